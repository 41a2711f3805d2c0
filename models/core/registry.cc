#include "models/core/registry.h"

#include "models/llm/decoder_lm.h"
#include "ops/base/error.h"

namespace loom::models {

const std::vector<FamilyEntry>& Families() {
  static const std::vector<FamilyEntry> families = [] {
    const PlanSpec dense{"model.layers.*", {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"},
                         "model.layers.*.self_attn", ""};
    const auto build = [](const nlohmann::json& j, const std::string& source) {
      return std::make_shared<DecoderLM>(LlmConfigFromJson(j, source));
    };
    PlanSpec moe = dense;
    moe.expert_param_pattern = "model.layers.*.mlp.experts.*";
    return std::vector<FamilyEntry>{
        {"llama", "Llama 2/3 dense decoder (GQA, RoPE incl. llama3 scaling)", dense, build},
        {"qwen2", "Qwen2 / Qwen2.5 dense decoder (q/k/v biases)", dense, build},
        {"qwen3", "Qwen3 dense decoder (qk-norm)", dense, build},
        {"qwen3_moe", "Qwen3-MoE decoder (qk-norm; top-k routed SwiGLU experts, dropless)", moe, build},
    };
  }();
  return families;
}

const FamilyEntry& FindFamily(const std::string& model_type) {
  std::string known;
  for (const auto& f : Families()) {
    if (f.model_type == model_type) return f;
    known += (known.empty() ? "" : ", ") + f.model_type;
  }
  throw ConfigError(ErrorWithFix("unknown model family '" + model_type + "'", "use one of: " + known));
}

}  // namespace loom::models
