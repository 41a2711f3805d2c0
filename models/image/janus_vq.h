// Janus's image tokenizer and generation parts, HF-compatible with
// transformers' JanusVQVAE (models/janus/modeling_janus.py): a convolutional
// VQ-VAE (encoder -> quant_conv -> nearest codebook entry; codebook entry
// (L2-normalised) -> post_quant_conv -> decoder), the generation head over
// the LLM's hidden states (JanusVQVAEHead) and the aligner from codebook
// embeddings to the LLM's width (JanusVQVAEAlignerMLP). Parameter names are
// HF's (encoder.down.0.block.0.norm1.weight, quantize.embedding.weight, ...),
// so LoadFrom reads a saved JanusVQVAE directly. Computation only.
//
// Legend: B images, C channels, H x W pixels, h x w latents (H / 2^(levels-1)),
// E codebook dim (embed_dim), N codebook entries (num_embeddings).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <nlohmann/json.hpp>
#include <torch/nn/modules/container/modulelist.h>

#include "models/core/layers.h"
#include "models/core/module.h"

namespace loom::models {

struct JanusVqConfig {
  int64_t embed_dim = 8;          // E
  int64_t num_embeddings = 16384; // N
  bool double_latent = false;
  int64_t latent_channels = 256;
  int64_t num_patches = 32;       // h = w of a decoded image's code grid
  int64_t in_channels = 3, out_channels = 3;
  int64_t base_channels = 128;
  std::vector<int64_t> channel_multiplier{1, 1, 2, 2, 4};
  int64_t num_res_blocks = 2;
  double dropout = 0.0;
  double initializer_range = 0.02;
  int64_t projection_dim = 2048;  // head and aligner width
  int64_t num_hidden_layers = 2;  // aligner depth
  std::string hidden_act = "gelu";
  int64_t image_token_embed_dim = 2048;  // the LLM hidden size the head reads
  double beta = 0.25;                    // commitment weight
};

// transformers' JanusVQVAEConfig fields; ConfigError naming `where`, the key
// and the fix for a wrong type, or channel counts GroupNorm(32) cannot split.
JanusVqConfig JanusVqConfigFromJson(const nlohmann::json& j, const std::string& where);
nlohmann::json JanusVqConfigToJson(const JanusVqConfig& c);

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, at::Device device);
  at::Tensor forward(const at::Tensor& x);  // (B, in, H, W) -> (B, out, H', W')
  at::Tensor weight, bias;                  // (out, in, k, k), (out)

 private:
  int64_t stride_, padding_;
};

class GroupNorm : public Module {  // 32 groups, eps 1e-6, affine (weight 1, bias 0 once initialised)
 public:
  GroupNorm(int64_t channels, at::Device device);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight, bias;
};

class VqResnetBlock : public Module {
 public:
  VqResnetBlock(int64_t in, int64_t out, at::Device device);
  at::Tensor forward(const at::Tensor& x);
  std::shared_ptr<GroupNorm> norm1, norm2;
  std::shared_ptr<Conv2d> conv1, conv2, nin_shortcut;  // nin_shortcut when in != out
};

class VqAttnBlock : public Module {  // single-head self-attention over the h * w positions
 public:
  VqAttnBlock(int64_t channels, at::Device device);
  at::Tensor forward(const at::Tensor& x);
  std::shared_ptr<GroupNorm> norm;
  std::shared_ptr<Conv2d> q, k, v, proj_out;
};

class VqMidBlock : public Module {
 public:
  VqMidBlock(int64_t channels, at::Device device);
  at::Tensor forward(const at::Tensor& x);
  std::shared_ptr<VqResnetBlock> block_1, block_2;
  std::shared_ptr<VqAttnBlock> attn_1;
};

// One resolution of the encoder (down.i) or decoder (up.i).
class VqLevel : public Module {
 public:
  VqLevel() : Module("VqLevel") {}
  std::vector<std::shared_ptr<VqResnetBlock>> blocks;
  std::vector<std::shared_ptr<VqAttnBlock>> attns;  // empty except at the lowest resolution
  std::shared_ptr<Conv2d> resample;                 // downsample.conv / upsample.conv, or null
};

class VqEncoder : public Module {
 public:
  VqEncoder(const JanusVqConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& pixels);  // (B, 3, H, W) -> (B, latent, h, w)
  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::vector<std::shared_ptr<VqLevel>> down;
  std::shared_ptr<VqMidBlock> mid;
  std::shared_ptr<GroupNorm> norm_out;
};

class VqDecoder : public Module {
 public:
  VqDecoder(const JanusVqConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& latents);  // (B, latent, h, w) -> (B, 3, H, W)
  std::shared_ptr<Conv2d> conv_in, conv_out;
  std::shared_ptr<VqMidBlock> mid;
  std::vector<std::shared_ptr<VqLevel>> up;  // up.0 is the lowest resolution (HF's order)
  std::shared_ptr<GroupNorm> norm_out;
};

struct VqEncoding {
  at::Tensor latents;    // (B, E, h, w): the encoder's output before quantization
  at::Tensor quantized;  // (B, E, h, w): the codebook entries, straight-through (gradients reach the encoder)
  at::Tensor codes;      // (B, h * w) int64 nearest entries, row-major over (h, w)
  at::Tensor loss;       // codebook + beta * commitment, scalar
};

class JanusVqModel : public Module {
 public:
  explicit JanusVqModel(const JanusVqConfig& config, at::Device device = at::kCPU);
  VqEncoding Encode(const at::Tensor& pixels);    // (B, 3, H, W) in [-1, 1]
  at::Tensor Decode(const at::Tensor& codes);     // (B, num_patches^2) -> (B, 3, H, W)
  // Decoded from an encoding's (straight-through) entries, for training:
  // the reconstruction's gradient reaches the encoder.
  at::Tensor DecodeQuantized(const at::Tensor& quantized);
  void LoadFrom(const std::string& file_or_dir);  // a JanusVQVAE's safetensors (strict names and shapes)
  void InitWeights(uint64_t seed);                // normal(0, initializer_range), norms 1, biases 0
  const JanusVqConfig& config() const { return config_; }

  std::shared_ptr<VqEncoder> encoder;
  std::shared_ptr<Embedding> codebook;  // quantize.embedding (N, E)
  std::shared_ptr<Conv2d> quant_conv, post_quant_conv;
  std::shared_ptr<VqDecoder> decoder;

 private:
  JanusVqConfig config_;
};

// JanusVQVAEHead: LLM hidden states (..., image_token_embed_dim) -> code logits (..., N).
class JanusVqHead : public Module {
 public:
  JanusVqHead(const JanusVqConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& hidden);
  std::shared_ptr<Linear> proj_out, vision_head;

 private:
  std::string act_;
};

// JanusVQVAEAlignerMLP: codebook embeddings (..., E) -> (..., projection_dim).
class JanusVqAligner : public Module {
 public:
  JanusVqAligner(const JanusVqConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& x);
  std::shared_ptr<Linear> fc1;
  std::vector<std::shared_ptr<Linear>> hidden_layers;

 private:
  std::string act_;
};

}  // namespace loom::models
