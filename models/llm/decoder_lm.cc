#include "models/llm/decoder_lm.h"

#include <ATen/ATen.h>

#include "models/llm/generate.h"
#include "models/llm/moe_state_adapter.h"
#include "models/llm/weight_sources.h"
#include "ops/base/error.h"
#include "ops/loss/chunked_cross_entropy.h"
#include "ops/norm/rms_norm.h"
#include "ops/rope/rope.h"

namespace loom::models {
namespace {

at::Tensor Unedited(const at::Tensor& embeddings) { return embeddings; }

}  // namespace

RmsNormModule::RmsNormModule(int64_t dim, double eps, at::Device device) : Module("RMSNorm"), eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}, at::TensorOptions().device(device)));
}

at::Tensor RmsNormModule::forward(const at::Tensor& x) { return ops::RmsNorm(x, weight, eps_); }

Attention::Attention(const LlmConfig& c, at::Device device)
    : Module("Attention"), heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
  const bool qkv_bias = c.attention_bias;
  const bool o_bias = c.attention_bias && c.model_type != "qwen2";  // qwen2: q/k/v only
  const auto lin = [&](int64_t in, int64_t out, bool bias) { return std::make_shared<Linear>(in, out, bias, device); };
  q_proj = register_module("q_proj", lin(c.hidden_size, heads_ * head_dim_, qkv_bias));
  k_proj = register_module("k_proj", lin(c.hidden_size, kv_heads_ * head_dim_, qkv_bias));
  v_proj = register_module("v_proj", lin(c.hidden_size, kv_heads_ * head_dim_, qkv_bias));
  o_proj = register_module("o_proj", lin(heads_ * head_dim_, c.hidden_size, o_bias));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", std::make_shared<RmsNormModule>(head_dim_, c.rms_norm_eps, device));
    k_norm = register_module("k_norm", std::make_shared<RmsNormModule>(head_dim_, c.rms_norm_eps, device));
  }
}

at::Tensor Attention::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                              const ops::AttentionInputs& inputs, ops::AttentionBackend& backend) {
  const int64_t b = x.size(0), t = x.size(1);
  // Each projection: (B, T, C) -> (B, T, n, D), qk-norm per head, RoPE, then
  // (B, n, T, D). The backend decides when each runs (async SP overlaps them
  // with communication).
  ops::QkvProjections qkv;
  qkv.q = [&] {
    auto q = q_proj->forward(x).view({b, t, heads_, head_dim_});
    if (q_norm) q = q_norm->forward(q);
    return ops::ApplyRope(q.transpose(1, 2), cos, sin);
  };
  qkv.k = [&] {
    auto k = k_proj->forward(x).view({b, t, kv_heads_, head_dim_});
    if (k_norm) k = k_norm->forward(k);
    return ops::ApplyRope(k.transpose(1, 2), cos, sin);
  };
  qkv.v = [&] { return v_proj->forward(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2); };
  auto out = backend.AttendProjected(qkv, inputs);  // (B, H, T, D)
  return o_proj->forward(out.transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
}

Mlp::Mlp(const LlmConfig& c, at::Device device) : FeedForward("Mlp") {
  const auto lin = [&](int64_t in, int64_t out) { return std::make_shared<Linear>(in, out, c.mlp_bias, device); };
  gate_proj = register_module("gate_proj", lin(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", lin(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", lin(c.intermediate_size, c.hidden_size));
}

at::Tensor Mlp::forward(const at::Tensor& x) {
  return CallWithHooks(x, [this](const at::Tensor& h) { return down_proj->forward(at::silu(gate_proj->forward(h)) * up_proj->forward(h)); });
}

DecoderLayer::DecoderLayer(const LlmConfig& c, int64_t index, int64_t sparse_index, std::shared_ptr<MoeContext> moe,
                           at::Device device)
    : Module("DecoderLayer") {
  self_attn = register_module("self_attn", std::make_shared<Attention>(c, device));
  if (c.IsSparseLayer(index)) {
    mlp = register_module("mlp", std::make_shared<SparseMoeBlock>(c, sparse_index, std::move(moe), device));
  } else {
    mlp = register_module("mlp", std::make_shared<Mlp>(c, device));
  }
  input_layernorm = register_module("input_layernorm", std::make_shared<RmsNormModule>(c.hidden_size, c.rms_norm_eps, device));
  post_attention_layernorm =
      register_module("post_attention_layernorm", std::make_shared<RmsNormModule>(c.hidden_size, c.rms_norm_eps, device));
}

at::Tensor DecoderLayer::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                 const ops::AttentionInputs& inputs, ops::AttentionBackend& backend) {
  // The body owns its captures: a recompute wrapper runs it again in backward.
  ops::AttentionBackend* attention = &backend;
  return CallWithHooks(x, [this, cos, sin, inputs, attention](const at::Tensor& h) {
    auto a = h + self_attn->forward(input_layernorm->forward(h), cos, sin, inputs, *attention);
    return a + mlp->forward(post_attention_layernorm->forward(a), inputs.doc_ids);
  });
}

DecoderBody::DecoderBody(const LlmConfig& c, const std::shared_ptr<MoeContext>& moe, at::Device device)
    : Module("DecoderBody") {
  embed_tokens = register_module("embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.hidden_size, device));
  auto list = torch::nn::ModuleList();
  int64_t sparse = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.push_back(std::make_shared<DecoderLayer>(c, i, c.IsSparseLayer(i) ? sparse++ : -1, moe, device));
    list->push_back(layers.back());
  }
  register_module("layers", list);
  norm = register_module("norm", std::make_shared<RmsNormModule>(c.hidden_size, c.rms_norm_eps, device));
}

PlanSpec DecoderLM::FamilySpec(const std::string& model_type) {
  PlanSpec spec;
  spec.fsdp_unit_pattern = "model.layers.*";
  spec.root_params = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
  spec.sp_attention_pattern = "model.layers.*.self_attn";
  spec.selective_recompute_pattern = "model.layers.*.mlp";
  if (model_type == "qwen3_moe") spec.expert_param_pattern = "model.layers.*.mlp.experts.*";
  return spec;
}

PlanSpec DecoderLM::SpecFor(const LlmConfig& c) {
  PlanSpec spec = FamilySpec(c.model_type);
  spec.attention_heads = c.num_attention_heads;
  spec.kv_heads = c.num_key_value_heads;
  spec.num_experts = c.IsMoe() && c.NumSparseLayers() > 0 ? c.num_experts : 0;
  if (spec.num_experts == 0) spec.expert_param_pattern.clear();
  return spec;
}

PlanSpec DecoderLM::plan_spec() const { return SpecFor(config_); }

void DecoderLM::SetExpertDispatcher(std::shared_ptr<ops::ExpertDispatcher> dispatcher) {
  if (sparse_layers_.empty()) TrainableModel::SetExpertDispatcher(std::move(dispatcher));  // refuses
  moe_->dispatcher = std::move(dispatcher);
}

void DecoderLM::SaveExport(std::vector<std::pair<std::string, at::Tensor>> state, const std::string& dir) const {
  SaveHfState(config_, std::move(state), dir);
}

DecoderLM::DecoderLM(const LlmConfig& config, at::Device device) : TrainableModel("DecoderLM"), config_(config) {
  config_.Validate("model config");
  moe_ = std::make_shared<MoeContext>();
  moe_->dispatcher = std::make_shared<ops::LocalExpertDispatcher>();
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    if (config_.IsSparseLayer(i)) sparse_layers_.push_back(i);
  }
  if (!sparse_layers_.empty()) {
    moe_->stats = c10::make_intrusive<RouterStats>(static_cast<int64_t>(sparse_layers_.size()), config_.num_experts,
                                                   config_.AuxLossCoef());
  }
  model = register_module("model", std::make_shared<DecoderBody>(config_, moe_, device));
  if (!config_.tie_word_embeddings) {
    lm_head = register_module("lm_head", std::make_shared<Linear>(config_.hidden_size, config_.vocab_size, false, device));
  }
  inv_freq_ = ops::InverseFrequencies(config_.head_dim, config_.rope_theta, config_.rope_scaling);
  attention_ = std::make_shared<ops::LocalAttention>();
}

at::Tensor DecoderLM::OutputWeight() const {
  return config_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

at::Tensor DecoderLM::Hidden(const DecoderInputs& in) { return HiddenEdited(in, Unedited, /*record_router_stats=*/false); }

at::Tensor DecoderLM::HiddenEdited(const DecoderInputs& in, const EmbeddingEditor& edit, bool record) {
  // A new forward: earlier router statistics (and their aux gradient) no
  // longer apply. Only LossSum's forward records; a recompute re-run inside
  // backward does not pass through here and never records.
  if (!in.media.empty()) {
    throw ConfigError(ErrorWithFix("the text model '" + config_.model_type + "' was given images or videos",
                                   "train an omni model (a qwen2_vl or loom_omni directory) on multimodal data"));
  }
  if (in.sequence.size > 1) {
    throw ConfigError(ErrorWithFix("the text model '" + config_.model_type + "' was given a whole sequence to slice",
                                   "give each sequence-parallel rank its slice (train::SliceSequence)"));
  }
  if (moe_->stats) moe_->stats->Begin(record);
  const int64_t b = in.input_ids.size(0), t = in.input_ids.size(1);
  auto positions = in.position_ids.defined()
                       ? in.position_ids
                       : at::arange(t, in.input_ids.options()).unsqueeze(0).expand({b, t});
  const bool mrope = config_.rope_scaling.type == "mrope";
  if (mrope && positions.dim() == 2) positions = positions.unsqueeze(0).expand({3, b, t});  // text only: t = h = w
  if (positions.dim() != (mrope ? 3 : 2)) {
    throw ConfigError(ErrorWithFix("position_ids of shape " + c10::str(positions.sizes()) +
                                       (mrope ? " for an M-RoPE model" : " for a 1-D RoPE model"),
                                   mrope ? "pass (3, B, T) ids from models::MropePositionIds, or (B, T) for text"
                                         : "pass (B, T) position ids"));
  }
  auto [cos, sin] = mrope ? ops::MropeCosSin(positions, inv_freq_, config_.rope_scaling.mrope_section)
                          : ops::RopeCosSin(positions, inv_freq_);
  ops::AttentionInputs attn;
  attn.doc_ids = in.doc_ids;
  attn.segments = in.segments.get();
  // The root's hooks run around the whole forward (e.g. FSDP gathers the
  // embedding, final norm and head here).
  auto out = CallWithHooks(in.input_ids, [&](const at::Tensor& ids) {
    auto h = model->embed_tokens->forward(ids);
    h = edit(h);
    for (auto& layer : model->layers) h = layer->forward(h, cos, sin, attn, *attention_);
    return model->norm->forward(h);
  });
  if (moe_->stats) moe_->stats->Finish();
  return out;
}

at::Tensor DecoderLM::Logits(const DecoderInputs& in) {
  auto h = Hidden(in);
  return at::matmul(h, OutputWeight().to(h.scalar_type()).t());
}

at::Tensor DecoderLM::LossSum(const DecoderInputs& in, const at::Tensor& labels, int64_t chunk_size) {
  auto h = HiddenEdited(in, Unedited, /*record_router_stats=*/true);
  return LossOfHidden(h, OutputWeight(), labels, in, chunk_size, &last_loss_by_group_);
}

double DecoderLM::AuxLoss() const {
  const auto* stats = router_stats();
  return stats && stats->has_aux() ? stats->coef() * stats->aux_loss() : 0.0;
}

void DecoderLM::InitWeights(uint64_t seed) {
  HfInitSource source(config_.initializer_range, seed);
  FillParameters(*this, source);
}

void DecoderLM::LoadFrom(const std::string& checkpoint) {
  HfWeightsSource source(checkpoint, ShapesOf(*this), config_.tie_word_embeddings);
  FillParameters(*this, source);
}

std::vector<std::pair<std::string, at::Tensor>> DecoderLM::StateForExport() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : named_parameters()) out.emplace_back(p.key(), p.value().detach());
  return StackedExpertsToHf(std::move(out));
}

std::shared_ptr<DecoderLM> LoadDecoderLM(const std::string& dir) {
  auto config = LoadLlmConfig(dir + "/config.json");
  auto model = std::make_shared<DecoderLM>(config);
  model->LoadFrom(dir);
  return model;
}

}  // namespace loom::models
