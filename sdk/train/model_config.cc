#include "sdk/train/model_config.h"

#include <string>

#include "ops/base/error.h"
#include "sdk/config/schema.h"
#include "sdk/train/model_build.h"

namespace loom::train {
namespace {

// Training choices, not architecture: set, they override config.json.
bool IsTrainingKnob(const std::string& leaf) {
  return leaf == "router_aux_loss_coef" || leaf == "output_router_logits";
}

// With model.path, config.json decides the architecture: a model.* key set
// (not at its default) to another value is an error, not silently ignored.
// The keys compared are the schema's model.* rows, so a field added to
// LlmConfig and the schema is checked with no change here.
void CheckAgreesWithCheckpoint(const config::ModelConfig& given, const models::LlmConfig& file,
                               const std::string& file_name) {
  const config::LoomConfig defaults;
  config::LoomConfig set, from_file;
  set.model = given;
  from_file.model.arch = file;
  for (const auto& key : config::ConfigSchema()) {
    const std::string leaf = key.leaf();
    if (key.section() != "model" || leaf == "path" || leaf == "config" || IsTrainingKnob(leaf)) continue;
    if (!file.IsMoe() && models::IsMoeOnlyKey(leaf)) continue;
    const std::string value = config::FormatValue(key, set);
    const std::string file_value = config::FormatValue(key, from_file);
    if (value == config::FormatValue(key, defaults) || value == file_value) continue;
    throw ConfigError(ErrorWithFix(std::string(key.name) + " = " + value + " disagrees with " + file_name +
                                       ", which says " + file_value,
                                   "remove " + std::string(key.name) + " (" + file_name +
                                       " decides the architecture)"));
  }
}

}  // namespace

models::LlmConfig ModelConfigOf(const config::ModelConfig& m) {
  const std::string file = ModelConfigFile(m);
  if (file.empty()) {
    models::LlmConfig c = m.arch;
    // Not config keys: each family's fixed choice (as HF's config classes).
    c.qk_norm = c.model_type == "qwen3" || c.model_type == "qwen3_moe";
    c.attention_bias = c.model_type == "qwen2";
    return c;
  }
  auto c = models::LoadLlmConfig(file);
  CheckAgreesWithCheckpoint(m, c, file);
  const models::LlmConfig def;
  if (m.arch.router_aux_loss_coef != def.router_aux_loss_coef) c.router_aux_loss_coef = m.arch.router_aux_loss_coef;
  if (m.arch.output_router_logits != def.output_router_logits) c.output_router_logits = m.arch.output_router_logits;
  return c;
}

}  // namespace loom::train
