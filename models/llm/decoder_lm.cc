#include "models/llm/decoder_lm.h"

#include <set>

#include <ATen/ATen.h>
#include <torch/nn/init.h>

#include "models/core/safetensors.h"
#include "models/llm/moe_state_adapter.h"
#include "ops/base/error.h"
#include "ops/loss/chunked_cross_entropy.h"
#include "ops/norm/rms_norm.h"

namespace loom::models {

namespace nn = torch::nn;

RmsNormModule::RmsNormModule(int64_t dim, double eps) : Module("RMSNorm"), eps_(eps) {
  weight = register_parameter("weight", at::ones({dim}));
}

at::Tensor RmsNormModule::forward(const at::Tensor& x) { return ops::RmsNorm(x, weight, eps_); }

Attention::Attention(const LlmConfig& c)
    : Module("Attention"), heads_(c.num_attention_heads), kv_heads_(c.num_key_value_heads), head_dim_(c.head_dim) {
  const bool qkv_bias = c.attention_bias;
  const bool o_bias = c.attention_bias && c.model_type != "qwen2";  // qwen2: q/k/v only
  q_proj = register_module("q_proj", nn::Linear(nn::LinearOptions(c.hidden_size, heads_ * head_dim_).bias(qkv_bias)));
  k_proj = register_module("k_proj", nn::Linear(nn::LinearOptions(c.hidden_size, kv_heads_ * head_dim_).bias(qkv_bias)));
  v_proj = register_module("v_proj", nn::Linear(nn::LinearOptions(c.hidden_size, kv_heads_ * head_dim_).bias(qkv_bias)));
  o_proj = register_module("o_proj", nn::Linear(nn::LinearOptions(heads_ * head_dim_, c.hidden_size).bias(o_bias)));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", std::make_shared<RmsNormModule>(head_dim_, c.rms_norm_eps));
    k_norm = register_module("k_norm", std::make_shared<RmsNormModule>(head_dim_, c.rms_norm_eps));
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
    auto q = q_proj(x).view({b, t, heads_, head_dim_});
    if (q_norm) q = q_norm->forward(q);
    return ops::ApplyRope(q.transpose(1, 2), cos, sin);
  };
  qkv.k = [&] {
    auto k = k_proj(x).view({b, t, kv_heads_, head_dim_});
    if (k_norm) k = k_norm->forward(k);
    return ops::ApplyRope(k.transpose(1, 2), cos, sin);
  };
  qkv.v = [&] { return v_proj(x).view({b, t, kv_heads_, head_dim_}).transpose(1, 2); };
  auto out = backend.AttendProjected(qkv, inputs);  // (B, H, T, D)
  return o_proj(out.transpose(1, 2).reshape({b, t, heads_ * head_dim_}));
}

Mlp::Mlp(const LlmConfig& c) : FeedForward("Mlp") {
  const auto lin = [&](int64_t in, int64_t out) { return nn::Linear(nn::LinearOptions(in, out).bias(c.mlp_bias)); };
  gate_proj = register_module("gate_proj", lin(c.hidden_size, c.intermediate_size));
  up_proj = register_module("up_proj", lin(c.hidden_size, c.intermediate_size));
  down_proj = register_module("down_proj", lin(c.intermediate_size, c.hidden_size));
}

at::Tensor Mlp::forward(const at::Tensor& x) {
  return CallWithHooks(x, [this](const at::Tensor& h) { return down_proj(at::silu(gate_proj(h)) * up_proj(h)); });
}

DecoderLayer::DecoderLayer(const LlmConfig& c, int64_t index, int64_t sparse_index, std::shared_ptr<MoeContext> moe)
    : Module("DecoderLayer") {
  self_attn = register_module("self_attn", std::make_shared<Attention>(c));
  if (c.IsSparseLayer(index)) {
    mlp = register_module("mlp", std::make_shared<SparseMoeBlock>(c, sparse_index, std::move(moe)));
  } else {
    mlp = register_module("mlp", std::make_shared<Mlp>(c));
  }
  input_layernorm = register_module("input_layernorm", std::make_shared<RmsNormModule>(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm =
      register_module("post_attention_layernorm", std::make_shared<RmsNormModule>(c.hidden_size, c.rms_norm_eps));
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

DecoderBody::DecoderBody(const LlmConfig& c, const std::shared_ptr<MoeContext>& moe) : Module("DecoderBody") {
  embed_tokens = register_module("embed_tokens", nn::Embedding(c.vocab_size, c.hidden_size));
  auto list = nn::ModuleList();
  int64_t sparse = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.push_back(std::make_shared<DecoderLayer>(c, i, c.IsSparseLayer(i) ? sparse++ : -1, moe));
    list->push_back(layers.back());
  }
  register_module("layers", list);
  norm = register_module("norm", std::make_shared<RmsNormModule>(c.hidden_size, c.rms_norm_eps));
}

DecoderLM::DecoderLM(const LlmConfig& config) : Module("DecoderLM"), config_(config) {
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
  model = register_module("model", std::make_shared<DecoderBody>(config_, moe_));
  if (!config_.tie_word_embeddings) {
    lm_head = register_module("lm_head", nn::Linear(nn::LinearOptions(config_.hidden_size, config_.vocab_size).bias(false)));
  }
  inv_freq_ = ops::InverseFrequencies(config_.head_dim, config_.rope_theta, config_.rope_scaling);
  attention_ = std::make_shared<ops::LocalAttention>();
}

at::Tensor DecoderLM::OutputWeight() const {
  return config_.tie_word_embeddings ? model->embed_tokens->weight : lm_head->weight;
}

at::Tensor DecoderLM::Hidden(const DecoderInputs& in) { return HiddenImpl(in, /*record_router_stats=*/false); }

at::Tensor DecoderLM::HiddenImpl(const DecoderInputs& in, bool record) {
  // A new forward: earlier router statistics (and their aux gradient) no
  // longer apply. Only LossSum's forward records; a recompute re-run inside
  // backward does not pass through here and never records.
  if (moe_->stats) moe_->stats->Begin(record);
  const int64_t b = in.input_ids.size(0), t = in.input_ids.size(1);
  auto positions = in.position_ids.defined()
                       ? in.position_ids
                       : at::arange(t, in.input_ids.options()).unsqueeze(0).expand({b, t});
  auto [cos, sin] = ops::RopeCosSin(positions, inv_freq_);
  ops::AttentionInputs attn;
  attn.doc_ids = in.doc_ids;
  // The root's hooks run around the whole forward (e.g. FSDP gathers the
  // embedding, final norm and head here).
  auto out = CallWithHooks(in.input_ids, [&](const at::Tensor& ids) {
    auto h = model->embed_tokens(ids);
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
  auto h = HiddenImpl(in, /*record_router_stats=*/true);
  return ops::ChunkedCrossEntropySum(h.reshape({-1, h.size(-1)}), OutputWeight(), labels.reshape({-1}), chunk_size);
}

double DecoderLM::AuxLoss() const {
  const auto* stats = router_stats();
  return stats && stats->has_aux() ? stats->coef() * stats->aux_loss() : 0.0;
}

void DecoderLM::InitWeights(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    at::Tensor& t = p.value();
    if (name.find("norm") != std::string::npos) {
      t.fill_(1.0);
    } else if (name.size() > 5 && name.substr(name.size() - 5) == ".bias") {
      t.zero_();
    } else {
      t.normal_(0.0, config_.initializer_range, gen);
    }
  }
}

void DecoderLM::LoadFrom(const std::string& source) {
  torch::NoGradGuard no_grad;
  auto ckpt = Checkpoint::Open(source);
  std::set<std::string> unused;
  for (const auto& n : ckpt.Names()) unused.insert(n);
  for (auto& p : named_parameters()) {
    const std::string& name = p.key();
    if (IsStackedExpertName(name)) {
      LoadStackedExperts(ckpt, source, name, p.value(), &unused);
      continue;
    }
    auto src = ckpt.Get(name);
    if (src.sizes() != p.value().sizes()) {
      std::ostringstream os;
      os << source << ": tensor '" << name << "' has shape " << src.sizes() << " but the model expects "
         << p.value().sizes();
      throw ConfigError(ErrorWithFix(os.str(), "use the config.json that belongs to this checkpoint"));
    }
    p.value().copy_(src);
    unused.erase(name);
  }
  if (config_.tie_word_embeddings) unused.erase("lm_head.weight");  // HF may store the tied copy
  if (!unused.empty()) {
    throw ConfigError(ErrorWithFix(source + ": tensor '" + *unused.begin() + "' (and " +
                                       std::to_string(unused.size() - 1) + " more) is not part of the model",
                                   "check model_type and the config flags (biases, qk-norm, tied embeddings, "
                                   "num_experts, decoder_sparse_step, mlp_only_layers)"));
  }
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
