// The Qwen2-VL vision tower (transformers' Qwen2VisionTransformerPretrainedModel;
// parameter names as its state_dict: patch_embed.proj.weight,
// blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}, merger.{ln_q,mlp.0,mlp.2}).
//
//   pixel_values (N, C*tps*p*p): the processor's flattened patches of every
//                image (and video) in the batch, concatenated, each image's
//                patches in the processor's 2 x 2 merge-block order
//   grid_thw     (I, 3) int64: (t, h, w) patches of image i; sum t*h*w = N
//   -> (N / merge^2, hidden_size): one embedding per LLM image token
//
// Each frame (t index) of each image is one attention segment: full
// attention within it, none across (HF's cu_seqlens). 2-D rotary: the first
// half of each head rotates by the patch's row, the second by its column.
// Legend: N patches, E embed_dim, H heads, D head_dim.
#pragma once

#include <memory>
#include <vector>

#include <c10/core/Device.h>

#include "models/core/image_grid.h"
#include "models/core/layers.h"
#include "models/core/module.h"
#include "models/vision/vision_config.h"

namespace loom::models {

// Conv3d with stride = kernel over each flattened patch row, computed as the
// equal GEMM (the weight keeps HF's 5-D shape and name).
class PatchEmbed : public Module {
 public:
  PatchEmbed(const Qwen2VisionConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& patches);  // (N, C*tps*p*p) -> (N, E)
  at::Tensor weight;  // proj.weight (E, C, tps, p, p), registered through `proj`
  std::shared_ptr<Module> proj;
};

class VisionAttention : public Module {
 public:
  VisionAttention(const Qwen2VisionConfig& c, at::Device device);
  // x (N, E), cos/sin (N, D) fp32, segments: frame lengths -> (N, E)
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const std::vector<int64_t>& segments);
  std::shared_ptr<Linear> qkv, proj;

 private:
  int64_t heads_, head_dim_;
};

class VisionMlp : public Module {
 public:
  VisionMlp(const Qwen2VisionConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& x);  // fc2(quick_gelu(fc1(x)))
  std::shared_ptr<Linear> fc1, fc2;
};

// One pre-LN block: the FSDP / recompute unit (hooks run around forward).
class VisionBlock : public Module {
 public:
  VisionBlock(const Qwen2VisionConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const std::vector<int64_t>& segments);
  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<VisionAttention> attn;
  std::shared_ptr<VisionMlp> mlp;
};

// ln_q, then each 2 x 2 block of patches (consecutive rows) concatenated and
// projected: (N, E) -> (N / 4, hidden_size) through Linear, GELU, Linear.
class PatchMerger : public Module {
 public:
  PatchMerger(const Qwen2VisionConfig& c, at::Device device);
  at::Tensor forward(const at::Tensor& x);
  std::shared_ptr<LayerNorm> ln_q;
  std::shared_ptr<Linear> fc_in, fc_out;  // HF's mlp.0 and mlp.2

 private:
  int64_t merged_dim_;
};

class Qwen2VisionTower : public Module {
 public:
  explicit Qwen2VisionTower(const Qwen2VisionConfig& config, at::Device device = at::kCPU);
  at::Tensor forward(const at::Tensor& pixel_values, const at::Tensor& grid_thw);

  // Checks the grids against pixel_values and the merge size; a ConfigError
  // naming the image and the fix. Returns the frame lengths (attention segments).
  std::vector<int64_t> Segments(const at::Tensor& pixel_values, const std::vector<ImageGrid>& grids) const;
  // cos, sin (N, D) fp32 of the 2-D rotary for the grids' patches.
  std::pair<at::Tensor, at::Tensor> RotaryCosSin(const std::vector<ImageGrid>& grids) const;

  const Qwen2VisionConfig& config() const { return config_; }
  std::shared_ptr<PatchEmbed> patch_embed;
  std::vector<std::shared_ptr<VisionBlock>> blocks;
  std::shared_ptr<PatchMerger> merger;

 private:
  Qwen2VisionConfig config_;
  at::Tensor inv_freq_;  // (D / 4) fp32
};

}  // namespace loom::models
