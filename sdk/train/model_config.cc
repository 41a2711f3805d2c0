#include "models/llm/decoder_lm.h"
#include "sdk/train/model_config.h"

#include <sstream>

#include "ops/base/error.h"

namespace loom::train {
namespace {

std::string Show(const std::string& v) { return v; }
std::string Show(bool v) { return v ? "true" : "false"; }
std::string Show(const std::vector<int64_t>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + "]";
}
template <typename T>
std::string Show(T v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// With model.path, config.json decides the architecture: a model.* key set
// (not at its default) to another value is an error, not silently ignored.
void CheckAgreesWithCheckpoint(const config::ModelConfig& m, const models::LlmConfig& c) {
  const config::ModelConfig def;
  const auto check = [&](const std::string& key, const auto& set, const auto& fallback, const auto& file) {
    if (set == fallback || set == file) return;
    throw ConfigError(ErrorWithFix("model." + key + " = " + Show(set) + " disagrees with " + m.path +
                                       "/config.json, which says " + Show(file),
                                   "remove model." + key + " (config.json decides the architecture of model.path)"));
  };
  check("family", m.family, def.family, c.model_type);
  check("vocab_size", m.vocab_size, def.vocab_size, c.vocab_size);
  check("hidden_size", m.hidden_size, def.hidden_size, c.hidden_size);
  check("intermediate_size", m.intermediate_size, def.intermediate_size, c.intermediate_size);
  check("num_hidden_layers", m.num_hidden_layers, def.num_hidden_layers, c.num_hidden_layers);
  check("num_attention_heads", m.num_attention_heads, def.num_attention_heads, c.num_attention_heads);
  check("num_key_value_heads", m.num_key_value_heads, def.num_key_value_heads, c.num_key_value_heads);
  check("head_dim", m.head_dim, def.head_dim, c.head_dim);
  check("max_position_embeddings", m.max_position_embeddings, def.max_position_embeddings,
        c.max_position_embeddings);
  check("rope_theta", m.rope_theta, def.rope_theta, c.rope_theta);
  check("rms_norm_eps", m.rms_norm_eps, def.rms_norm_eps, c.rms_norm_eps);
  check("tie_word_embeddings", m.tie_word_embeddings, def.tie_word_embeddings, c.tie_word_embeddings);
  if (!c.IsMoe()) return;
  check("num_experts", m.num_experts, def.num_experts, c.num_experts);
  check("num_experts_per_tok", m.num_experts_per_tok, def.num_experts_per_tok, c.num_experts_per_tok);
  check("moe_intermediate_size", m.moe_intermediate_size, def.moe_intermediate_size, c.moe_intermediate_size);
  check("norm_topk_prob", m.norm_topk_prob, def.norm_topk_prob, c.norm_topk_prob);
  check("decoder_sparse_step", m.decoder_sparse_step, def.decoder_sparse_step, c.decoder_sparse_step);
  check("mlp_only_layers", m.mlp_only_layers, def.mlp_only_layers, c.mlp_only_layers);
}

}  // namespace

models::LlmConfig ModelConfigOf(const config::ModelConfig& m) {
  if (!m.path.empty()) {
    auto c = models::LoadLlmConfig(m.path + "/config.json");
    CheckAgreesWithCheckpoint(m, c);
    // The MoE loss knobs are training choices: set (not at their defaults),
    // they override config.json.
    const config::ModelConfig def;
    if (m.router_aux_loss_coef != def.router_aux_loss_coef) c.router_aux_loss_coef = m.router_aux_loss_coef;
    if (m.output_router_logits != def.output_router_logits) c.output_router_logits = m.output_router_logits;
    return c;
  }
  models::LlmConfig c;
  c.model_type = m.family;
  c.vocab_size = m.vocab_size;
  c.hidden_size = m.hidden_size;
  c.intermediate_size = m.intermediate_size;
  c.num_hidden_layers = m.num_hidden_layers;
  c.num_attention_heads = m.num_attention_heads;
  c.num_key_value_heads = m.num_key_value_heads;
  c.head_dim = m.head_dim;
  c.max_position_embeddings = m.max_position_embeddings;
  c.rope_theta = m.rope_theta;
  c.rms_norm_eps = m.rms_norm_eps;
  c.tie_word_embeddings = m.tie_word_embeddings;
  c.qk_norm = m.family == "qwen3" || m.family == "qwen3_moe";
  if (c.IsMoe()) {
    c.num_experts = m.num_experts;
    c.num_experts_per_tok = m.num_experts_per_tok;
    c.moe_intermediate_size = m.moe_intermediate_size;
    c.norm_topk_prob = m.norm_topk_prob;
    c.decoder_sparse_step = m.decoder_sparse_step;
    c.mlp_only_layers = m.mlp_only_layers;
    c.router_aux_loss_coef = m.router_aux_loss_coef;
    c.output_router_logits = m.output_router_logits;
  }
  c.attention_bias = m.family == "qwen2";
  return c;
}

}  // namespace loom::train
