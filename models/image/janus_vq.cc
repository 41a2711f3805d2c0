#include "models/image/janus_vq.h"

#include <ATen/ATen.h>

#include "models/core/parameter_source.h"
#include "models/llm/weight_sources.h"
#include "ops/base/error.h"

namespace loom::models {
namespace {

constexpr int64_t kGroups = 32;

at::Tensor Activation(const std::string& act, const at::Tensor& x) {
  if (act == "gelu") return at::gelu(x);
  if (act == "gelu_pytorch_tanh" || act == "gelu_new") return at::gelu(x, "tanh");
  if (act == "silu") return at::silu(x);
  if (act == "relu") return at::relu(x);
  if (act == "quick_gelu") return x * at::sigmoid(1.702 * x);
  throw ConfigError(ErrorWithFix("hidden_act '" + act + "' is not supported", "use gelu, gelu_pytorch_tanh, silu, relu or quick_gelu"));
}

at::Tensor Swish(const at::Tensor& x) { return x * at::sigmoid(x); }

template <typename T>
void Read(const nlohmann::json& j, const std::string& where, const char* key, T& out) {
  if (!j.contains(key) || j.at(key).is_null()) return;
  try {
    out = j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw ConfigError(ErrorWithFix(where + ": '" + key + "' is " + j.at(key).dump() + ", of the wrong type",
                                   "write it as transformers' JanusVQVAEConfig does"));
  }
}

torch::nn::ModuleList ListOf(const std::vector<std::shared_ptr<Module>>& modules) {
  auto list = torch::nn::ModuleList();
  for (const auto& m : modules) list->push_back(m);
  return list;
}

template <typename M>
std::vector<std::shared_ptr<Module>> Up(const std::vector<std::shared_ptr<M>>& v) {
  return {v.begin(), v.end()};
}

}  // namespace

JanusVqConfig JanusVqConfigFromJson(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ConfigError(ErrorWithFix(where + " is not a JSON object", "pass a JanusVQVAEConfig's fields"));
  JanusVqConfig c;
  Read(j, where, "embed_dim", c.embed_dim);
  Read(j, where, "num_embeddings", c.num_embeddings);
  Read(j, where, "double_latent", c.double_latent);
  Read(j, where, "latent_channels", c.latent_channels);
  Read(j, where, "num_patches", c.num_patches);
  Read(j, where, "in_channels", c.in_channels);
  Read(j, where, "out_channels", c.out_channels);
  Read(j, where, "base_channels", c.base_channels);
  Read(j, where, "channel_multiplier", c.channel_multiplier);
  Read(j, where, "num_res_blocks", c.num_res_blocks);
  Read(j, where, "dropout", c.dropout);
  Read(j, where, "initializer_range", c.initializer_range);
  Read(j, where, "projection_dim", c.projection_dim);
  Read(j, where, "num_hidden_layers", c.num_hidden_layers);
  Read(j, where, "hidden_act", c.hidden_act);
  Read(j, where, "image_token_embed_dim", c.image_token_embed_dim);
  Read(j, where, "beta", c.beta);
  if (c.channel_multiplier.empty())
    throw ConfigError(ErrorWithFix(where + ": channel_multiplier is empty", "give one multiplier per resolution, e.g. [1, 2]"));
  for (int64_t m : c.channel_multiplier) {
    if (m < 1 || (c.base_channels * m) % kGroups != 0)
      throw ConfigError(ErrorWithFix(where + ": base_channels " + std::to_string(c.base_channels) + " x multiplier " +
                                         std::to_string(m) + " is not a positive multiple of 32 (GroupNorm's groups)",
                                     "use a base_channels that is a multiple of 32"));
  }
  if (c.embed_dim < 1 || c.num_embeddings < 1 || c.num_res_blocks < 1)
    throw ConfigError(ErrorWithFix(where + ": embed_dim, num_embeddings and num_res_blocks must be >= 1", "fix the config"));
  return c;
}

nlohmann::json JanusVqConfigToJson(const JanusVqConfig& c) {
  return {{"model_type", "janus_vqgan"},        {"embed_dim", c.embed_dim},
          {"num_embeddings", c.num_embeddings}, {"double_latent", c.double_latent},
          {"latent_channels", c.latent_channels}, {"num_patches", c.num_patches},
          {"in_channels", c.in_channels},       {"out_channels", c.out_channels},
          {"base_channels", c.base_channels},   {"channel_multiplier", c.channel_multiplier},
          {"num_res_blocks", c.num_res_blocks}, {"dropout", c.dropout},
          {"initializer_range", c.initializer_range}, {"projection_dim", c.projection_dim},
          {"num_hidden_layers", c.num_hidden_layers}, {"hidden_act", c.hidden_act},
          {"image_token_embed_dim", c.image_token_embed_dim}};
}

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, at::Device device)
    : Module("Conv2d"), stride_(stride), padding_(padding) {
  weight = register_parameter("weight", NewParameterTensor({out, in, kernel, kernel}, device));
  bias = register_parameter("bias", NewParameterTensor({out}, device));
}

at::Tensor Conv2d::forward(const at::Tensor& x) { return at::conv2d(x, weight, bias, stride_, padding_); }

GroupNorm::GroupNorm(int64_t channels, at::Device device) : Module("GroupNorm") {
  weight = register_parameter("weight", NewParameterTensor({channels}, device));
  bias = register_parameter("bias", NewParameterTensor({channels}, device));
}

at::Tensor GroupNorm::forward(const at::Tensor& x) { return at::group_norm(x, kGroups, weight, bias, 1e-6); }

VqResnetBlock::VqResnetBlock(int64_t in, int64_t out, at::Device device) : Module("VqResnetBlock") {
  norm1 = register_module("norm1", std::make_shared<GroupNorm>(in, device));
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, out, 3, 1, 1, device));
  norm2 = register_module("norm2", std::make_shared<GroupNorm>(out, device));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(out, out, 3, 1, 1, device));
  if (in != out) nin_shortcut = register_module("nin_shortcut", std::make_shared<Conv2d>(in, out, 1, 1, 0, device));
}

at::Tensor VqResnetBlock::forward(const at::Tensor& x) {
  auto h = conv1->forward(Swish(norm1->forward(x)));
  h = conv2->forward(Swish(norm2->forward(h)));  // dropout 0: Janus's VQ is used frozen or trained without it
  return (nin_shortcut ? nin_shortcut->forward(x) : x) + h;
}

VqAttnBlock::VqAttnBlock(int64_t channels, at::Device device) : Module("VqAttnBlock") {
  norm = register_module("norm", std::make_shared<GroupNorm>(channels, device));
  q = register_module("q", std::make_shared<Conv2d>(channels, channels, 1, 1, 0, device));
  k = register_module("k", std::make_shared<Conv2d>(channels, channels, 1, 1, 0, device));
  v = register_module("v", std::make_shared<Conv2d>(channels, channels, 1, 1, 0, device));
  proj_out = register_module("proj_out", std::make_shared<Conv2d>(channels, channels, 1, 1, 0, device));
}

at::Tensor VqAttnBlock::forward(const at::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const auto n = norm->forward(x);
  const auto query = q->forward(n).reshape({b, c, h * w}).permute({0, 2, 1});  // (B, hw, C)
  const auto key = k->forward(n).reshape({b, c, h * w});                        // (B, C, hw)
  const auto value = v->forward(n).reshape({b, c, h * w});                      // (B, C, hw)
  const auto weights = at::softmax(at::bmm(query, key) * std::pow(static_cast<double>(c), -0.5), 2);  // (B, hw, hw)
  const auto out = at::bmm(value, weights.permute({0, 2, 1})).reshape({b, c, h, w});
  return x + proj_out->forward(out);
}

VqMidBlock::VqMidBlock(int64_t channels, at::Device device) : Module("VqMidBlock") {
  block_1 = register_module("block_1", std::make_shared<VqResnetBlock>(channels, channels, device));
  attn_1 = register_module("attn_1", std::make_shared<VqAttnBlock>(channels, device));
  block_2 = register_module("block_2", std::make_shared<VqResnetBlock>(channels, channels, device));
}

at::Tensor VqMidBlock::forward(const at::Tensor& x) { return block_2->forward(attn_1->forward(block_1->forward(x))); }

VqEncoder::VqEncoder(const JanusVqConfig& c, at::Device device) : Module("VqEncoder") {
  const int64_t levels = static_cast<int64_t>(c.channel_multiplier.size());
  conv_in = register_module("conv_in", std::make_shared<Conv2d>(c.in_channels, c.base_channels, 3, 1, 1, device));
  int64_t block_in = c.base_channels;
  std::vector<std::shared_ptr<Module>> levels_list;
  for (int64_t i = 0; i < levels; ++i) {
    auto level = std::make_shared<VqLevel>();
    const int64_t block_out = c.base_channels * c.channel_multiplier[static_cast<size_t>(i)];
    for (int64_t j = 0; j < c.num_res_blocks; ++j) {
      level->blocks.push_back(std::make_shared<VqResnetBlock>(block_in, block_out, device));
      block_in = block_out;
      if (i == levels - 1) level->attns.push_back(std::make_shared<VqAttnBlock>(block_in, device));
    }
    level->register_module("block", ListOf(Up(level->blocks)));
    level->register_module("attn", ListOf(Up(level->attns)));
    if (i != levels - 1) {
      auto down_sample = std::make_shared<Module>("VqDownsample");
      level->resample = down_sample->register_module("conv", std::make_shared<Conv2d>(block_in, block_in, 3, 2, 0, device));
      level->register_module("downsample", down_sample);
    }
    down.push_back(level);
    levels_list.push_back(level);
  }
  register_module("down", ListOf(levels_list));
  mid = register_module("mid", std::make_shared<VqMidBlock>(block_in, device));
  norm_out = register_module("norm_out", std::make_shared<GroupNorm>(block_in, device));
  conv_out = register_module("conv_out", std::make_shared<Conv2d>(block_in, c.double_latent ? 2 * c.latent_channels : c.latent_channels,
                                                                  3, 1, 1, device));
}

at::Tensor VqEncoder::forward(const at::Tensor& pixels) {
  auto h = conv_in->forward(pixels);
  for (const auto& level : down) {
    for (size_t j = 0; j < level->blocks.size(); ++j) {
      h = level->blocks[j]->forward(h);
      if (!level->attns.empty()) h = level->attns[j]->forward(h);
    }
    if (level->resample) h = level->resample->forward(at::constant_pad_nd(h, {0, 1, 0, 1}, 0));  // HF's asymmetric pad
  }
  h = mid->forward(h);
  return conv_out->forward(Swish(norm_out->forward(h)));
}

VqDecoder::VqDecoder(const JanusVqConfig& c, at::Device device) : Module("VqDecoder") {
  const int64_t levels = static_cast<int64_t>(c.channel_multiplier.size());
  int64_t block_in = c.base_channels * c.channel_multiplier.back();
  conv_in = register_module("conv_in", std::make_shared<Conv2d>(c.latent_channels, block_in, 3, 1, 1, device));
  mid = register_module("mid", std::make_shared<VqMidBlock>(block_in, device));
  std::vector<std::shared_ptr<Module>> levels_list;
  for (int64_t i = levels - 1; i >= 0; --i) {
    auto level = std::make_shared<VqLevel>();
    const int64_t block_out = c.base_channels * c.channel_multiplier[static_cast<size_t>(i)];
    for (int64_t j = 0; j < c.num_res_blocks + 1; ++j) {
      level->blocks.push_back(std::make_shared<VqResnetBlock>(block_in, block_out, device));
      block_in = block_out;
      if (i == levels - 1) level->attns.push_back(std::make_shared<VqAttnBlock>(block_in, device));
    }
    level->register_module("block", ListOf(Up(level->blocks)));
    level->register_module("attn", ListOf(Up(level->attns)));
    if (i != 0) {
      auto up_sample = std::make_shared<Module>("VqUpsample");
      level->resample = up_sample->register_module("conv", std::make_shared<Conv2d>(block_in, block_in, 3, 1, 1, device));
      level->register_module("upsample", up_sample);
    }
    up.push_back(level);
    levels_list.push_back(level);
  }
  register_module("up", ListOf(levels_list));
  norm_out = register_module("norm_out", std::make_shared<GroupNorm>(block_in, device));
  conv_out = register_module("conv_out", std::make_shared<Conv2d>(block_in, c.out_channels, 3, 1, 1, device));
}

at::Tensor VqDecoder::forward(const at::Tensor& latents) {
  auto h = mid->forward(conv_in->forward(latents));
  for (size_t i = 0; i < up.size(); ++i) {
    const auto& level = up[i];
    for (size_t j = 0; j < level->blocks.size(); ++j) {
      h = level->blocks[j]->forward(h);
      if (!level->attns.empty()) h = level->attns[j]->forward(h);
    }
    if (level->resample) h = level->resample->forward(at::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2}));
  }
  return conv_out->forward(Swish(norm_out->forward(h)));
}

JanusVqModel::JanusVqModel(const JanusVqConfig& c, at::Device device) : Module("JanusVQVAE"), config_(c) {
  encoder = register_module("encoder", std::make_shared<VqEncoder>(c, device));
  auto quantize = std::make_shared<Module>("VqQuantizer");
  codebook = quantize->register_module("embedding", std::make_shared<Embedding>(c.num_embeddings, c.embed_dim, device));
  register_module("quantize", quantize);
  quant_conv = register_module("quant_conv", std::make_shared<Conv2d>(c.latent_channels, c.embed_dim, 1, 1, 0, device));
  post_quant_conv = register_module("post_quant_conv", std::make_shared<Conv2d>(c.embed_dim, c.latent_channels, 1, 1, 0, device));
  decoder = register_module("decoder", std::make_shared<VqDecoder>(c, device));
}

VqEncoding JanusVqModel::Encode(const at::Tensor& pixels) {
  const auto z = quant_conv->forward(encoder->forward(pixels)).permute({0, 2, 3, 1}).contiguous();  // (B, h, w, E)
  const auto flat = z.view({-1, config_.embed_dim});
  const auto& e = codebook->weight;  // (N, E)
  // |z - e|^2 = |z|^2 + |e|^2 - 2 z.e, as transformers computes it (same argmin ties).
  const auto distances = flat.pow(2).sum(1, true) + e.pow(2).sum(1) - 2 * at::matmul(flat, e.t());
  const auto codes = distances.argmin(1);
  const auto q = at::embedding(e, codes).view(z.sizes());
  VqEncoding out;
  out.latents = z.permute({0, 3, 1, 2});
  out.loss = (q.detach() - z).pow(2).mean() + config_.beta * (q - z.detach()).pow(2).mean();
  out.quantized = (z + (q - z).detach()).permute({0, 3, 1, 2}).contiguous();  // straight-through
  out.codes = codes.view({pixels.size(0), -1});
  return out;
}

at::Tensor JanusVqModel::Decode(const at::Tensor& codes) {
  const int64_t n = config_.num_patches;
  if (codes.dim() != 2 || codes.size(1) != n * n)
    throw ConfigError(ErrorWithFix("image codes of shape " + c10::str(codes.sizes()) + " for a " + std::to_string(n) + "x" +
                                       std::to_string(n) + " code grid",
                                   "pass (B, " + std::to_string(n * n) + ") codes, or set num_patches to the grid side"));
  auto q = at::embedding(codebook->weight, codes);  // (B, hw, E)
  q = q / q.norm(2, -1, true).clamp_min(1e-12);     // F.normalize: decoding reads unit-length entries
  q = q.view({codes.size(0), n, n, config_.embed_dim}).permute({0, 3, 1, 2}).contiguous();
  return decoder->forward(post_quant_conv->forward(q));
}

at::Tensor JanusVqModel::DecodeQuantized(const at::Tensor& quantized) {
  return decoder->forward(post_quant_conv->forward(quantized));
}

void JanusVqModel::LoadFrom(const std::string& file_or_dir) {
  HfWeightsSource source(file_or_dir, ShapesOf(*this), /*tied_embeddings=*/false);
  FillParameters(*this, source);
}

void JanusVqModel::InitWeights(uint64_t seed) {
  HfInitSource source(config_.initializer_range, seed);
  FillParameters(*this, source);
}

JanusVqHead::JanusVqHead(const JanusVqConfig& c, at::Device device) : Module("JanusVQVAEHead"), act_(c.hidden_act) {
  proj_out = register_module("proj_out", std::make_shared<Linear>(c.image_token_embed_dim, c.projection_dim, true, device));
  vision_head = register_module("vision_head", std::make_shared<Linear>(c.projection_dim, c.num_embeddings, true, device));
}

at::Tensor JanusVqHead::forward(const at::Tensor& hidden) {
  // Through the hooks: an omni model's image_out makes the head an FSDP unit.
  return CallWithHooks(hidden, [this](const at::Tensor& h) {
    return vision_head->forward(Activation(act_, proj_out->forward(h)));
  });
}

JanusVqAligner::JanusVqAligner(const JanusVqConfig& c, at::Device device) : Module("JanusVQVAEAlignerMLP"), act_(c.hidden_act) {
  fc1 = register_module("fc1", std::make_shared<Linear>(c.embed_dim, c.projection_dim, true, device));
  std::vector<std::shared_ptr<Module>> list;
  for (int64_t i = 1; i < c.num_hidden_layers; ++i) {
    hidden_layers.push_back(std::make_shared<Linear>(c.projection_dim, c.projection_dim, true, device));
    list.push_back(hidden_layers.back());
  }
  register_module("hidden_layers", ListOf(list));
}

at::Tensor JanusVqAligner::forward(const at::Tensor& x) {
  return CallWithHooks(x, [this](const at::Tensor& in) {
    auto h = fc1->forward(in);
    for (const auto& layer : hidden_layers) h = layer->forward(Activation(act_, h));
    return h;
  });
}

}  // namespace loom::models
