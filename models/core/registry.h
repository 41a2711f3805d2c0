// The model registry: Hugging Face model_type -> family. A family entry says
// how to build the model from config.json and carries its plan spec (what
// executors may do to it) as plain data.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom::models {

class DecoderLM;

// Declarative: which submodules are FSDP units, which attention modules may run
// under SP. Executors interpret it; the model never reads it.
struct PlanSpec {
  std::string fsdp_unit_pattern;        // e.g. "model.layers.*"
  std::vector<std::string> root_params;  // parameters outside units (embeddings, norm, head)
  std::string sp_attention_pattern;      // attention modules that may run under Ulysses
  // Stacked expert parameters (dim 0 = expert index) an EP plan may split on
  // dim 0; empty for dense families.
  std::string expert_param_pattern;
};

struct FamilyEntry {
  std::string model_type;   // HF model_type
  std::string description;
  PlanSpec plan;
  std::function<std::shared_ptr<DecoderLM>(const nlohmann::json& config, const std::string& source)> build;
};

// All registered families, and lookup (ConfigError listing them if unknown).
const std::vector<FamilyEntry>& Families();
const FamilyEntry& FindFamily(const std::string& model_type);

}  // namespace loom::models
