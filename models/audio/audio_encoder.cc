#include "models/audio/audio_encoder.h"

#include <optional>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "ops/base/error.h"

namespace loom::models {

Conv1d::Conv1d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, at::Device device)
    : Module("Conv1d"), stride_(stride), padding_(padding) {
  weight = register_parameter("weight", NewParameterTensor({out, in, kernel}, device));
  bias = register_parameter("bias", NewParameterTensor({out}, device));
}

at::Tensor Conv1d::forward(const at::Tensor& x) { return at::conv1d(x, weight, bias, {stride_}, {padding_}); }

AudioAttention::AudioAttention(const AudioEncoderConfig& c, at::Device device)
    : Module("AudioAttention"), heads_(c.encoder_attention_heads), head_dim_(c.head_dim()) {
  const auto lin = [&](bool bias) { return std::make_shared<Linear>(c.d_model, c.d_model, bias, device); };
  q_proj = register_module("q_proj", lin(true));
  k_proj = register_module("k_proj", lin(false));
  v_proj = register_module("v_proj", lin(true));
  out_proj = register_module("out_proj", lin(true));
}

at::Tensor AudioAttention::forward(const at::Tensor& x, const at::Tensor& key_mask) {
  const int64_t a = x.size(0), p = x.size(1);
  const auto heads = [&](const at::Tensor& t) { return t.view({a, p, heads_, head_dim_}).transpose(1, 2); };
  // (A, H, P, D); full (bidirectional) attention, padded keys masked.
  auto out = at::scaled_dot_product_attention(heads(q_proj->forward(x)), heads(k_proj->forward(x)),
                                              heads(v_proj->forward(x)),
                                              key_mask.defined() ? std::optional<at::Tensor>(key_mask) : std::nullopt);
  return out_proj->forward(out.transpose(1, 2).reshape({a, p, heads_ * head_dim_}));
}

AudioEncoderLayer::AudioEncoderLayer(const AudioEncoderConfig& c, at::Device device) : Module("AudioEncoderLayer") {
  self_attn = register_module("self_attn", std::make_shared<AudioAttention>(c, device));
  self_attn_layer_norm = register_module("self_attn_layer_norm", std::make_shared<LayerNorm>(c.d_model, 1e-5, device));
  fc1 = register_module("fc1", std::make_shared<Linear>(c.d_model, c.encoder_ffn_dim, true, device));
  fc2 = register_module("fc2", std::make_shared<Linear>(c.encoder_ffn_dim, c.d_model, true, device));
  final_layer_norm = register_module("final_layer_norm", std::make_shared<LayerNorm>(c.d_model, 1e-5, device));
}

at::Tensor AudioEncoderLayer::forward(const at::Tensor& x, const at::Tensor& key_mask) {
  // The body owns its captures: a recompute wrapper runs it again in backward.
  return CallWithHooks(x, [this, key_mask](const at::Tensor& h) {
    auto a = h + self_attn->forward(self_attn_layer_norm->forward(h), key_mask);
    return a + fc2->forward(at::gelu(fc1->forward(final_layer_norm->forward(a))));
  });
}

AudioEncoder::AudioEncoder(const AudioEncoderConfig& config, at::Device device)
    : Module("AudioEncoder"), config_(config) {
  config_.Validate("audio encoder config");
  const int64_t d = config_.d_model;
  conv1 = register_module("conv1", std::make_shared<Conv1d>(config_.num_mel_bins, d, 3, 1, 1, device));
  conv2 = register_module("conv2", std::make_shared<Conv1d>(d, d, 3, 2, 1, device));
  embed_positions = register_module("embed_positions", std::make_shared<Embedding>(config_.max_source_positions, d, device));
  embed_positions->weight.set_requires_grad(false);  // frozen, as transformers' requires_grad_(False)
  auto list = torch::nn::ModuleList();
  for (int64_t i = 0; i < config_.encoder_layers; ++i) {
    layers.push_back(std::make_shared<AudioEncoderLayer>(config_, device));
    list->push_back(layers.back());
  }
  register_module("layers", list);
  layer_norm = register_module("layer_norm", std::make_shared<LayerNorm>(d, 1e-5, device));
}

std::pair<at::Tensor, at::Tensor> AudioOutputLengths(const AudioEncoderConfig& config, const at::Tensor& lengths) {
  auto positions = at::floor_divide(lengths - 1, 2) + 1;
  auto rows = config.pools() ? at::floor_divide(positions - 2, 2) + 1 : positions;
  return {positions, rows};
}

std::pair<at::Tensor, at::Tensor> AudioEncoder::OutputLengths(const at::Tensor& lengths) const {
  return AudioOutputLengths(config_, lengths);
}

at::Tensor AudioEncoder::forward(const at::Tensor& features, const at::Tensor& lengths) {
  if (features.dim() != 3 || features.size(1) != config_.num_mel_bins || features.size(2) != config_.input_frames()) {
    throw ConfigError(ErrorWithFix("audio features of shape " + c10::str(features.sizes()) + ", expected (clips, " +
                                       std::to_string(config_.num_mel_bins) + ", " +
                                       std::to_string(config_.input_frames()) + ")",
                                   "pad or cut every clip's log-mel features to 2 x max_source_positions frames"));
  }
  at::Tensor key_mask;
  if (lengths.defined()) {
    if (lengths.dim() != 1 || lengths.size(0) != features.size(0) || (lengths < 1).any().item<bool>() ||
        (lengths > config_.input_frames()).any().item<bool>()) {
      throw ConfigError(ErrorWithFix("audio lengths " + c10::str(lengths.sizes()) + " do not fit " +
                                         std::to_string(features.size(0)) + " clips of " +
                                         std::to_string(config_.input_frames()) + " frames",
                                     "give one length in [1, frames] per clip"));
    }
    const auto positions = OutputLengths(lengths).first;
    key_mask = (at::arange(config_.max_source_positions, lengths.options()).unsqueeze(0) < positions.unsqueeze(1))
                   .view({features.size(0), 1, 1, config_.max_source_positions});
  }
  return CallWithHooks(features, [this, key_mask](const at::Tensor& x) {
    auto h = at::gelu(conv1->forward(x.to(conv1->weight.scalar_type())));
    h = at::gelu(conv2->forward(h)).permute({0, 2, 1});  // (A, P, d)
    h = h + embed_positions->weight;
    for (auto& layer : layers) h = layer->forward(h, key_mask);
    if (config_.pools()) h = at::avg_pool1d(h.permute({0, 2, 1}), {2}, {2}).permute({0, 2, 1});
    return layer_norm->forward(h);
  });
}

}  // namespace loom::models
