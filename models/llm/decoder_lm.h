// DecoderLM: the decoder LM shared by llama, qwen2, qwen3 (they differ only in
// flags: qkv biases, qk-norm, tied embeddings, RoPE scaling) and qwen3_moe
// (qwen3 attention; each layer's `mlp` is the dense Mlp or a SparseMoeBlock,
// per LlmConfig::IsSparseLayer, models/llm/moe_block.h).
// Parameter names are Hugging Face's, so named_parameters() maps 1:1 onto
// safetensors: model.embed_tokens.weight, model.layers.{i}.self_attn.q_proj.weight,
// ..., model.norm.weight, lm_head.weight (absent when tied). MoE experts are
// stacked (model.layers.{i}.mlp.experts.gate_proj (E, I, C), ...); loading and
// export map them to HF's per-expert tensors (models/llm/moe_state_adapter.h).
//
// Legend: B batch rows, T positions, C hidden, H heads, K kv heads, D head dim,
// V vocab.
#pragma once

#include <memory>
#include <vector>

#include <c10/core/Device.h>
#include <c10/util/FunctionRef.h>
#include <torch/nn/modules/container/modulelist.h>

#include "models/core/layers.h"
#include "models/core/module.h"
#include "models/core/trainable_model.h"
#include "models/llm/llm_config.h"
#include "models/llm/moe_block.h"
#include "models/llm/router_stats.h"
#include "ops/attention/attention.h"
#include "ops/moe/expert_dispatcher.h"

namespace loom::models {

// What one forward needs besides the weights (ids, positions, documents).
using DecoderInputs = ModelInputs;

class RmsNormModule : public Module {
 public:
  RmsNormModule(int64_t dim, double eps, at::Device device);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;

 private:
  double eps_;
};

class Attention : public Module {
 public:
  Attention(const LlmConfig& c, at::Device device);
  // x (B, T, C), cos/sin (B, T, D) -> (B, T, C)
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const ops::AttentionInputs& inputs, ops::AttentionBackend& backend);
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;
  std::shared_ptr<RmsNormModule> q_norm, k_norm;  // qwen3 only

 private:
  int64_t heads_, kv_heads_, head_dim_;
};

class Mlp : public FeedForward {
 public:
  Mlp(const LlmConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& x);  // SwiGLU: down(silu(gate(x)) * up(x))
  at::Tensor forward(const at::Tensor& x, const at::Tensor& doc_ids) override { return forward(x); }
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

// One transformer block; the FSDP / recompute unit (hooks run around forward).
class DecoderLayer : public Module {
 public:
  // `moe`: the model's shared MoE context when layer `index` is sparse, else null.
  DecoderLayer(const LlmConfig& c, int64_t index, int64_t sparse_index, std::shared_ptr<MoeContext> moe,
               at::Device device);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const ops::AttentionInputs& inputs, ops::AttentionBackend& backend);
  std::shared_ptr<Attention> self_attn;
  std::shared_ptr<FeedForward> mlp;  // Mlp, or SparseMoeBlock in a sparse layer
  std::shared_ptr<RmsNormModule> input_layernorm, post_attention_layernorm;
};

class DecoderBody : public Module {
 public:
  DecoderBody(const LlmConfig& c, const std::shared_ptr<MoeContext>& moe, at::Device device);
  std::shared_ptr<Embedding> embed_tokens;
  std::vector<std::shared_ptr<DecoderLayer>> layers;
  std::shared_ptr<RmsNormModule> norm;
};

class DecoderLM : public TrainableModel {
 public:
  // The plan spec every decoder family shares (units model.layers.*, SP over
  // self_attn, selective recompute of each MLP; qwen3_moe adds experts).
  static PlanSpec FamilySpec(const std::string& model_type);
  // FamilySpec plus the head/KV-head/expert counts of a model of `config`
  // (what plan_spec() returns; plans are validated from it before building).
  static PlanSpec SpecFor(const LlmConfig& config);

  // Parameters are built on `device`: zero-filled until InitWeights or
  // LoadFrom, or on at::kMeta with shapes only (sharded construction: FSDP
  // fills each rank's shards from a ParameterSource, models/llm/weight_sources.h).
  explicit DecoderLM(const LlmConfig& config, at::Device device = at::kCPU);

  // Rewrites the token embeddings (B, T, C) before the first layer: an omni
  // model places its encoders' outputs there. It runs inside this model's
  // root hooks (e.g. with FSDP's root unit gathered). A per-call reference:
  // the model never holds it.
  using EmbeddingEditor = c10::function_ref<at::Tensor(const at::Tensor& embeddings)>;

  // Final hidden states (B, T, C), after the last norm.
  at::Tensor Hidden(const DecoderInputs& in);
  // The same with the embeddings edited first; `record_router_stats` as in
  // LossSum (the forward a loss is taken of records, others do not).
  at::Tensor HiddenEdited(const DecoderInputs& in, const EmbeddingEditor& edit, bool record_router_stats);
  // Logits (B, T, V): materialises the full vocab; for inference and tests.
  at::Tensor Logits(const DecoderInputs& in);
  // Sum of token losses over labels != -100 (chunked, never (B*T, V) logits).
  // For a MoE model this forward also records the router statistics and
  // evaluates the load-balancing aux loss of this micro-batch (router_stats():
  // aux_loss(), per-expert counts); when config().AuxLossCoef() > 0, the
  // backward of the returned tensor also carries the gradient of
  // AuxLossCoef() * aux_loss() (see RouterStats). The returned value excludes
  // the aux loss: add AuxLoss() to report the training loss.
  at::Tensor LossSum(const DecoderInputs& in, const at::Tensor& labels, int64_t chunk_size) override;
  // AuxLossCoef() * aux loss of the last LossSum (0 for dense models).
  double AuxLoss() const override;

  PlanSpec plan_spec() const override;
  std::string family() const override { return config_.model_type; }
  int64_t NumParameters() const override { return config_.NumParameters(); }
  // config.json + model.safetensors (fp32) that transformers loads.
  void SaveExport(std::vector<std::pair<std::string, at::Tensor>> state, const std::string& dir) const override;

  // The output projection (V, C): lm_head, or the embedding when tied.
  at::Tensor OutputWeight() const;

  // HF-initialised random weights: normal(0, initializer_range), norms 1,
  // biases 0 (HfInitSource).
  void InitWeights(uint64_t seed);
  // Copies every parameter from a checkpoint (HfWeightsSource: names must
  // match exactly; a missing or extra or mis-shaped tensor is a ConfigError
  // naming it).
  void LoadFrom(const std::string& checkpoint_file_or_dir);
  // (name, tensor) pairs in HF naming, ready for SaveSafetensors.
  std::vector<std::pair<std::string, at::Tensor>> StateForExport() const;

  void SetAttentionBackend(std::shared_ptr<ops::AttentionBackend> backend) override { attention_ = std::move(backend); }
  // How sparse layers reach their experts (default ops::LocalExpertDispatcher).
  void SetExpertDispatcher(std::shared_ptr<ops::ExpertDispatcher> dispatcher) override;
  // The router statistics of the last recorded forward (local to this rank;
  // the loss boundary sums them over ranks). Null for dense models.
  RouterStats* router_stats() const override { return moe_->stats.get(); }
  // Decoder-layer index of each sparse layer, in order.
  const std::vector<int64_t>& sparse_layers() const { return sparse_layers_; }

  const LlmConfig& config() const { return config_; }
  std::shared_ptr<DecoderBody> model;
  std::shared_ptr<Linear> lm_head;  // null when tied

 private:
  LlmConfig config_;

  at::Tensor inv_freq_;  // (D/2) fp32, not a parameter
  std::shared_ptr<ops::AttentionBackend> attention_;
  std::shared_ptr<MoeContext> moe_;  // stats null for dense models
  std::vector<int64_t> sparse_layers_;
};

// Loads a Hugging Face model directory (config.json + safetensors).
std::shared_ptr<DecoderLM> LoadDecoderLM(const std::string& dir);

}  // namespace loom::models
