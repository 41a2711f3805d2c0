// LlmConfig: the architecture of a decoder LM, read from and written to
// Hugging Face config.json (llama, qwen2, qwen3 dense; qwen3_moe mixture of
// experts: Qwen3MoeConfig's keys, layers sparse or dense exactly as HF decides).
//
// Parsing is strict: a key Loom does not implement, or a value it cannot honour
// (e.g. hidden_act != silu, sliding-window attention), is a loom::ConfigError
// naming the file, the key and the fix; keys that do not change the math
// (architectures, use_cache, token ids, ...) are accepted.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ops/rope/rope_scaling.h"

namespace loom::models {

// The one declaration of a decoder's architecture: the training config's
// model.* keys bind to these fields (sdk/config/train_config.cc), so the
// in-class defaults below are the documented defaults of those keys.
struct LlmConfig {
  std::string model_type = "qwen3";  // llama | qwen2 | qwen3 | qwen3_moe
  int64_t vocab_size = 151936;
  int64_t hidden_size = 256;
  int64_t intermediate_size = 768;
  int64_t num_hidden_layers = 4;
  int64_t num_attention_heads = 4;
  int64_t num_key_value_heads = 2;
  int64_t head_dim = 64;
  int64_t max_position_embeddings = 4096;
  double rope_theta = 1000000.0;
  ops::RopeScaling rope_scaling;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = true;
  bool attention_bias = false;  // q/k/v/o biases (llama flag); qwen2: q/k/v always
  bool mlp_bias = false;
  bool qk_norm = false;         // RMSNorm over each head of q and k (qwen3)
  double initializer_range = 0.02;
  int64_t bos_token_id = -1;
  int64_t eos_token_id = -1;

  // Mixture of experts: read only when IsMoe() (other families ignore them).
  int64_t num_experts = 8;
  int64_t num_experts_per_tok = 2;       // top-k
  int64_t moe_intermediate_size = 256;   // width of each expert's SwiGLU
  bool norm_topk_prob = true;            // renormalise the top-k probabilities to sum 1
  int64_t decoder_sparse_step = 1;       // layer i is sparse iff (i + 1) % step == 0 ...
  std::vector<int64_t> mlp_only_layers;  // ... and i is not listed here
  double router_aux_loss_coef = 0.001;   // weight of the load-balancing loss ...
  bool output_router_logits = true;      // ... added to the training loss iff true (HF's default: false)

  bool IsMoe() const { return model_type == "qwen3_moe"; }
  // Whether decoder layer `layer` holds a sparse MoE block (HF's rule).
  bool IsSparseLayer(int64_t layer) const;
  // Number of sparse layers.
  int64_t NumSparseLayers() const;
  // The coefficient the training loss applies to the aux loss (0 when off).
  double AuxLossCoef() const { return output_router_logits ? router_aux_loss_coef : 0.0; }

  // Checks internal consistency (heads divide, ...); throws ConfigError.
  void Validate(const std::string& source) const;
  int64_t NumParameters() const;
};

// The decoder families Loom implements: the one list the registry, the
// config schema (model.family) and config.json parsing use.
struct LlmFamily {
  std::string model_type;
  std::string description;
};
const std::vector<LlmFamily>& LlmFamilies();
bool IsLlmFamily(const std::string& model_type);
std::string LlmFamilyList();  // "qwen3, qwen2, llama, qwen3_moe"

// Whether a config.json key (= an LlmConfig field name) only means something
// for qwen3_moe (num_experts, ..., output_router_logits).
bool IsMoeOnlyKey(const std::string& key);

LlmConfig LlmConfigFromJson(const nlohmann::json& j, const std::string& source);
LlmConfig LoadLlmConfig(const std::string& config_json_path);
nlohmann::json LlmConfigToJson(const LlmConfig& c);

}  // namespace loom::models
