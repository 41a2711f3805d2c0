// PlanSpec: what a model family lets executors do to it, as plain data next
// to the model. Executors (FSDP/HSDP, recompute, Ulysses, EP) read only this
// and the plan; they never walk a family's own fields, so a new family gets
// every executor by declaring its spec (tests/parallel/generic_model_test.cc
// does it for a stack of MLP blocks).
//
// Patterns are dotted module/parameter paths where `*` matches exactly one
// path segment: "model.layers.*" matches "model.layers.3" but not
// "model.layers.3.mlp". Modules are matched in named_modules() order, which
// must be the order their forwards run (FSDP prefetches in that order).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace loom::models {

struct PlanSpec {
  // Modules that are FSDP units and full-recompute units (each a
  // models::Module whose forward runs through CallWithHooks).
  std::string fsdp_unit_pattern;        // e.g. "model.layers.*"
  // Parameters outside every unit (embeddings, final norm, head): the root
  // unit, gathered for the whole forward. Documentation only: the root is
  // "everything not in a unit".
  std::vector<std::string> root_params;
  // Modules whose attention may run under Ulysses SP ("" = the model has no
  // attention: SP only slices activations along the sequence).
  std::string sp_attention_pattern;
  // Stacked expert parameters (dim 0 = expert index) an EP plan may split on
  // dim 0; "" for dense families.
  std::string expert_param_pattern;
  // Modules recomputed by the "selective" policy (cheap to redo, large
  // activations), e.g. "model.layers.*.mlp"; "" = selective is not offered.
  std::string selective_recompute_pattern;

  // Facts of this model instance the plan validator needs (0 = none).
  int64_t attention_heads = 0;
  int64_t kv_heads = 0;
  int64_t num_experts = 0;
};

// One component of a model (an omni model's encoder, its LLM): what a
// per-component plan applies to. Patterns in `spec` are full module paths.
struct ComponentSpec {
  std::string name;         // e.g. "vision", "llm"; "model" for a one-component model
  std::string module_path;  // its subtree ("" = the whole model)
  PlanSpec spec;
  std::string family;       // its registry model_type ("qwen2_vision", "qwen3", ...), for messages
};

// True when dotted `path` matches `pattern` (`*` = one segment); `|`
// separates alternatives ("vision.blocks.*|llm.model.layers.*").
bool MatchesPattern(const std::string& pattern, const std::string& path);

}  // namespace loom::models
