// The registry as JSON: what the C ABI's loom_registry_json returns and the
// studio builds its composer from. Every entry comes from the registry
// (models/core/registry.h) and the config schema (sdk/config/schema.h); the
// components' fields are read from their default configs, so a field added
// to a config struct appears here without an edit.
#pragma once

#include <nlohmann/json.hpp>

namespace loom::train {

// {"families":   [{"model_type", "description", "kind": "llm"|"omni",
//                  "plan": {"fsdp_unit_pattern", "root_params", "sp_attention_pattern",
//                           "expert_param_pattern", "selective_recompute_pattern"}}],
//  "components": [{"role": "vision"|"audio"|"llm", "model_type", "modality": "image"|"audio"|"text",
//                  "config": {default config.json fields},
//                  "fields": [{"name", "type": "int"|"float"|"bool"|"string"|"json", "default"}]}],
//  "config_schema": SchemaJson()}
nlohmann::json RegistryReport();

}  // namespace loom::train
