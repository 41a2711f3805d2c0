// The model registry: Hugging Face model_type -> family. A family entry says
// how to build the model from config.json and carries its plan spec (what
// executors may do to it) as plain data. The built-in entries are the LLM
// families (models/llm) and the omni formats (models/omni: qwen2_vl,
// qwen2_audio, loom_omni); RegisterFamily adds others (tests register a
// non-LLM model this way and get every executor from its spec alone).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include "models/core/plan_spec.h"

namespace loom::models {

class TrainableModel;

struct FamilyEntry {
  std::string model_type;   // HF model_type
  std::string description;
  PlanSpec plan;            // the family's patterns (instance counts come from the built model)
  // config.json -> the model, on `device` (at::kMeta: shapes only).
  std::function<std::shared_ptr<TrainableModel>(const nlohmann::json& config, const std::string& source,
                                                at::Device device)>
      build;
};

// All registered families, and lookup (ConfigError listing them if unknown).
const std::vector<FamilyEntry>& Families();
const FamilyEntry& FindFamily(const std::string& model_type);
// Adds (or replaces, by model_type) a family. Not thread-safe: register
// before any lookup runs concurrently.
void RegisterFamily(FamilyEntry entry);

}  // namespace loom::models
