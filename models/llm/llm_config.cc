#include "models/llm/llm_config.h"

#include <algorithm>
#include <fstream>
#include <numeric>
#include <set>

#include "ops/base/error.h"

namespace loom::models {
namespace {

using nlohmann::json;

// Keys that never change the math Loom computes.
const std::set<std::string> kIgnored = {
    "architectures", "transformers_version", "torch_dtype", "dtype", "use_cache",
    "pad_token_id", "_name_or_path", "output_attentions", "output_hidden_states",
    "return_dict", "max_window_layers", "sliding_window", "model_type", "bos_token_id",
    "eos_token_id", "initializer_range", "attention_dropout", "use_sliding_window",
    "layer_types", "pretraining_tp", "hidden_act", "rope_scaling", "head_dim",
    "attention_bias", "mlp_bias", "tie_word_embeddings", "rms_norm_eps", "rope_theta"};
// Qwen3MoeConfig's keys; any other model_type rejects them as unsupported.
const std::set<std::string> kMoeKeys = {"num_experts", "num_experts_per_tok", "moe_intermediate_size",
                                        "norm_topk_prob", "decoder_sparse_step", "mlp_only_layers",
                                        "router_aux_loss_coef", "output_router_logits"};
const std::set<std::string> kRequired = {"vocab_size", "hidden_size", "intermediate_size",
                                         "num_hidden_layers", "num_attention_heads"};

[[noreturn]] void Fail(const std::string& source, const std::string& what, const std::string& fix) {
  throw ConfigError(ErrorWithFix(source + ": " + what, fix));
}

int64_t TokenId(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
  return -1;
}

}  // namespace

const std::vector<LlmFamily>& LlmFamilies() {
  static const std::vector<LlmFamily> families = {
      {"qwen3", "Qwen3 dense decoder (qk-norm)"},
      {"qwen2", "Qwen2 / Qwen2.5 dense decoder (q/k/v biases)"},
      {"llama", "Llama 2/3 dense decoder (GQA, RoPE incl. llama3 scaling)"},
      {"qwen3_moe", "Qwen3-MoE decoder (qk-norm; top-k routed SwiGLU experts, dropless)"},
  };
  return families;
}

bool IsLlmFamily(const std::string& model_type) {
  for (const auto& f : LlmFamilies()) {
    if (f.model_type == model_type) return true;
  }
  return false;
}

std::string LlmFamilyList() {
  std::string out;
  for (const auto& f : LlmFamilies()) out += (out.empty() ? "" : ", ") + f.model_type;
  return out;
}

bool IsMoeOnlyKey(const std::string& key) { return kMoeKeys.count(key) > 0; }

LlmConfig LlmConfigFromJson(const json& j, const std::string& source) {
  LlmConfig c;
  c.model_type = j.value("model_type", "");
  if (!IsLlmFamily(c.model_type)) {
    Fail(source, "model_type '" + c.model_type + "' is not a decoder Loom implements",
         "use a checkpoint of one of: " + LlmFamilyList());
  }
  for (const auto& key : kRequired) {
    if (!j.contains(key)) Fail(source, "missing key '" + key + "'", "add it to config.json");
  }
  for (auto& [key, value] : j.items()) {
    if (!kIgnored.count(key) && !kRequired.count(key) && key != "num_key_value_heads" &&
        key != "max_position_embeddings" && !(c.IsMoe() && kMoeKeys.count(key))) {
      Fail(source, "unsupported key '" + key + "' = " + value.dump(),
           "remove it if it does not change the model, or use a supported architecture");
    }
  }
  try {
    c.vocab_size = j.at("vocab_size").get<int64_t>();
    c.hidden_size = j.at("hidden_size").get<int64_t>();
    c.intermediate_size = j.at("intermediate_size").get<int64_t>();
    c.num_hidden_layers = j.at("num_hidden_layers").get<int64_t>();
    c.num_attention_heads = j.at("num_attention_heads").get<int64_t>();
    c.num_key_value_heads = j.value("num_key_value_heads", c.num_attention_heads);
    c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? j["head_dim"].get<int64_t>()
                                                                    : c.hidden_size / c.num_attention_heads;
    c.max_position_embeddings = j.value("max_position_embeddings", int64_t{4096});
    c.rope_theta = j.value("rope_theta", 10000.0);
    c.rms_norm_eps = j.value("rms_norm_eps", 1e-6);
    c.tie_word_embeddings = j.value("tie_word_embeddings", false);
    c.initializer_range = j.value("initializer_range", 0.02);
    c.attention_bias = c.model_type == "qwen2" ? true : j.value("attention_bias", false);
    c.mlp_bias = j.value("mlp_bias", false);
    c.qk_norm = c.model_type == "qwen3" || c.model_type == "qwen3_moe";
    if (c.IsMoe()) {
      // Defaults are Qwen3MoeConfig's.
      c.num_experts = j.value("num_experts", int64_t{128});
      c.num_experts_per_tok = j.value("num_experts_per_tok", int64_t{8});
      c.moe_intermediate_size = j.value("moe_intermediate_size", int64_t{768});
      c.norm_topk_prob = j.value("norm_topk_prob", false);
      c.decoder_sparse_step = j.value("decoder_sparse_step", int64_t{1});
      if (j.contains("mlp_only_layers") && !j["mlp_only_layers"].is_null()) {
        c.mlp_only_layers = j["mlp_only_layers"].get<std::vector<int64_t>>();
      }
      c.router_aux_loss_coef = j.value("router_aux_loss_coef", 0.001);
      c.output_router_logits = j.value("output_router_logits", false);
    }
    if (j.contains("bos_token_id")) c.bos_token_id = TokenId(j["bos_token_id"]);
    if (j.contains("eos_token_id")) c.eos_token_id = TokenId(j["eos_token_id"]);
  } catch (const json::exception& e) {
    Fail(source, std::string("wrong type: ") + e.what(), "fix the value's type in config.json");
  }
  if (j.value("hidden_act", std::string("silu")) != "silu") {
    Fail(source, "hidden_act '" + j["hidden_act"].get<std::string>() + "' is not supported",
         "use hidden_act 'silu'");
  }
  if (j.value("use_sliding_window", false)) {
    Fail(source, "sliding-window attention is not supported", "set use_sliding_window false");
  }
  if (j.contains("attention_dropout") && j["attention_dropout"].get<double>() != 0.0) {
    Fail(source, "attention_dropout must be 0", "set attention_dropout 0.0");
  }
  if (j.contains("pretraining_tp") && j["pretraining_tp"].get<int64_t>() != 1) {
    Fail(source, "pretraining_tp != 1 is not supported", "set pretraining_tp 1");
  }
  if (j.contains("layer_types") && j["layer_types"].is_array()) {
    for (const auto& t : j["layer_types"]) {
      if (t != "full_attention") Fail(source, "layer type " + t.dump() + " is not supported", "use full_attention layers");
    }
  }
  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const auto& rs = j["rope_scaling"];
    c.rope_scaling.type = rs.value("rope_type", rs.value("type", std::string("default")));
    // transformers writes M-RoPE as {"type": "mrope", "rope_type": "default", ...}.
    if (rs.value("type", std::string()) == "mrope") c.rope_scaling.type = "mrope";
    if (c.rope_scaling.type != "default" && c.rope_scaling.type != "llama3" && c.rope_scaling.type != "mrope") {
      Fail(source, "rope_scaling type '" + c.rope_scaling.type + "' is not supported",
           "use rope_type 'llama3', type 'mrope' (Qwen2-VL) or no rope_scaling");
    }
    if (c.rope_scaling.type == "mrope") {
      if (!rs.contains("mrope_section")) Fail(source, "rope_scaling 'mrope' has no mrope_section", "add mrope_section");
      c.rope_scaling.mrope_section = rs["mrope_section"].get<std::vector<int64_t>>();
    }
    c.rope_scaling.factor = rs.value("factor", 1.0);
    c.rope_scaling.low_freq_factor = rs.value("low_freq_factor", 1.0);
    c.rope_scaling.high_freq_factor = rs.value("high_freq_factor", 4.0);
    c.rope_scaling.original_max_position_embeddings =
        rs.value("original_max_position_embeddings", int64_t{8192});
  }
  c.Validate(source);
  return c;
}

void LlmConfig::Validate(const std::string& source) const {
  if (vocab_size < 1 || hidden_size < 1 || intermediate_size < 1 || num_hidden_layers < 1 ||
      num_attention_heads < 1 || num_key_value_heads < 1 || head_dim < 2 || head_dim % 2 != 0) {
    Fail(source, "sizes must be positive and head_dim even", "fix the model sizes");
  }
  if (rope_scaling.type == "mrope") {
    const auto& section = rope_scaling.mrope_section;
    const bool positive = std::all_of(section.begin(), section.end(), [](int64_t s) { return s > 0; });
    if (section.size() != 3 || !positive || std::accumulate(section.begin(), section.end(), int64_t{0}) != head_dim / 2) {
      Fail(source, "mrope_section must be 3 positive sizes (t, h, w) summing to head_dim / 2 = " +
                       std::to_string(head_dim / 2),
           "e.g. [16, 24, 24] for head_dim 128");
    }
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    Fail(source,
         "num_attention_heads " + std::to_string(num_attention_heads) +
             " is not a multiple of num_key_value_heads " + std::to_string(num_key_value_heads),
         "choose num_key_value_heads dividing num_attention_heads");
  }
  if (!IsMoe()) return;
  if (num_experts < 0 || moe_intermediate_size < 1 || decoder_sparse_step < 1) {
    Fail(source, "num_experts must be >= 0, moe_intermediate_size and decoder_sparse_step >= 1",
         "fix the MoE sizes");
  }
  if (num_experts > 0 && (num_experts_per_tok < 1 || num_experts_per_tok > num_experts)) {
    Fail(source,
         "num_experts_per_tok " + std::to_string(num_experts_per_tok) + " is not in [1, num_experts = " +
             std::to_string(num_experts) + "]",
         "choose a top-k between 1 and num_experts");
  }
  if (router_aux_loss_coef < 0) Fail(source, "router_aux_loss_coef must be >= 0", "use 0 to turn it off");
  for (int64_t l : mlp_only_layers) {
    if (l < 0 || l >= num_hidden_layers) {
      Fail(source,
           "mlp_only_layers lists layer " + std::to_string(l) + " but the model has layers 0.." +
               std::to_string(num_hidden_layers - 1),
           "list decoder layers between 0 and num_hidden_layers - 1");
    }
  }
}

bool LlmConfig::IsSparseLayer(int64_t layer) const {
  if (!IsMoe() || num_experts <= 0) return false;
  for (int64_t l : mlp_only_layers) {
    if (l == layer) return false;
  }
  return (layer + 1) % decoder_sparse_step == 0;
}

int64_t LlmConfig::NumSparseLayers() const {
  int64_t n = 0;
  for (int64_t i = 0; i < num_hidden_layers; ++i) n += IsSparseLayer(i) ? 1 : 0;
  return n;
}

int64_t LlmConfig::NumParameters() const {
  const int64_t q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  const int64_t attn = hidden_size * (q + 2 * kv) + q * hidden_size +
                       (attention_bias ? q + 2 * kv : 0) + (qk_norm ? 2 * head_dim : 0);
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t moe = num_experts * (hidden_size + 3 * hidden_size * moe_intermediate_size);  // router + experts
  const int64_t sparse = NumSparseLayers();
  const int64_t layers = (num_hidden_layers - sparse) * (attn + mlp) + sparse * (attn + moe) +
                         num_hidden_layers * 2 * hidden_size;
  return vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2) + layers + hidden_size;
}

LlmConfig LoadLlmConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) Fail(path, "cannot read", "pass a model directory containing config.json");
  json j;
  try {
    j = json::parse(in);
  } catch (const std::exception& e) {
    Fail(path, std::string("invalid JSON: ") + e.what(), "fix config.json");
  }
  return LlmConfigFromJson(j, path);
}

json LlmConfigToJson(const LlmConfig& c) {
  const char* arch = c.model_type == "llama"       ? "LlamaForCausalLM"
                     : c.model_type == "qwen2"     ? "Qwen2ForCausalLM"
                     : c.model_type == "qwen3_moe" ? "Qwen3MoeForCausalLM"
                                                   : "Qwen3ForCausalLM";
  json j = {{"architectures", {arch}},
            {"model_type", c.model_type},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_hidden_layers},
            {"num_attention_heads", c.num_attention_heads},
            {"num_key_value_heads", c.num_key_value_heads},
            {"head_dim", c.head_dim},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rope_theta", c.rope_theta},
            {"rms_norm_eps", c.rms_norm_eps},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"hidden_act", "silu"},
            {"initializer_range", c.initializer_range},
            {"attention_dropout", 0.0},
            {"torch_dtype", "float32"}};
  if (c.model_type == "llama") j["attention_bias"] = c.attention_bias, j["mlp_bias"] = c.mlp_bias;
  if (c.model_type == "qwen3" || c.IsMoe()) j["attention_bias"] = c.attention_bias;
  if (c.IsMoe()) {
    j["num_experts"] = c.num_experts;
    j["num_experts_per_tok"] = c.num_experts_per_tok;
    j["moe_intermediate_size"] = c.moe_intermediate_size;
    j["norm_topk_prob"] = c.norm_topk_prob;
    j["decoder_sparse_step"] = c.decoder_sparse_step;
    j["mlp_only_layers"] = c.mlp_only_layers;
    j["router_aux_loss_coef"] = c.router_aux_loss_coef;
    j["output_router_logits"] = c.output_router_logits;
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  if (c.rope_scaling.type == "mrope") {
    j["rope_scaling"] = {{"type", "mrope"}, {"rope_type", "default"}, {"mrope_section", c.rope_scaling.mrope_section}};
  }
  if (c.rope_scaling.type == "llama3") {
    j["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", c.rope_scaling.factor},
                         {"low_freq_factor", c.rope_scaling.low_freq_factor},
                         {"high_freq_factor", c.rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings",
                          c.rope_scaling.original_max_position_embeddings}};
  }
  return j;
}

}  // namespace loom::models
