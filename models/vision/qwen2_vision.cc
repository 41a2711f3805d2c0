#include "models/vision/qwen2_vision.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "ops/attention/segment_attention.h"
#include "ops/base/error.h"
#include "ops/rope/rope.h"

namespace loom::models {
namespace {

// A submodule that only names parameters (HF's "proj" of PatchEmbed, "mlp" of PatchMerger).
class Holder : public Module {
 public:
  Holder() : Module("Holder") {}
  at::Tensor Register(const std::string& name, at::Tensor t) { return register_parameter(name, std::move(t)); }
  template <typename M>
  std::shared_ptr<M> Add(const std::string& name, std::shared_ptr<M> m) { return register_module(name, std::move(m)); }
};

// x (N, H, D) -> (H, N, D), rotated in fp32 by cos/sin (N, D) and returned
// in x's dtype (HF's apply_rotary_pos_emb_vision): ops::ApplyRope over one
// "row" of N positions.
at::Tensor RotateHeadsFirst(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  auto xf = x.to(at::kFloat).transpose(0, 1).unsqueeze(0);  // (1, H, N, D)
  return ops::ApplyRope(xf, cos.unsqueeze(0), sin.unsqueeze(0)).squeeze(0).to(x.scalar_type());
}

at::Tensor QuickGelu(const at::Tensor& x) { return x * at::sigmoid(1.702 * x); }

}  // namespace

PatchEmbed::PatchEmbed(const Qwen2VisionConfig& c, at::Device device) : Module("PatchEmbed") {
  auto holder = std::make_shared<Holder>();
  weight = holder->Register(
      "weight", NewParameterTensor({c.embed_dim, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size},
                                   device));
  proj = register_module("proj", holder);
}

at::Tensor PatchEmbed::forward(const at::Tensor& patches) {
  // A stride = kernel Conv3d over one (C, tps, p, p) patch is a dot product
  // with each output channel's kernel: (N, K) x (K, E).
  return at::linear(patches.to(weight.scalar_type()), weight.reshape({weight.size(0), -1}));
}

VisionAttention::VisionAttention(const Qwen2VisionConfig& c, at::Device device)
    : Module("VisionAttention"), heads_(c.num_heads), head_dim_(c.head_dim()) {
  qkv = register_module("qkv", std::make_shared<Linear>(c.embed_dim, 3 * c.embed_dim, true, device));
  proj = register_module("proj", std::make_shared<Linear>(c.embed_dim, c.embed_dim, true, device));
}

at::Tensor VisionAttention::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                    const std::vector<int64_t>& segments) {
  const int64_t n = x.size(0);
  auto parts = qkv->forward(x).reshape({n, 3, heads_, head_dim_}).permute({1, 0, 2, 3});  // (3, N, H, D)
  auto q = RotateHeadsFirst(parts[0], cos, sin);                                          // (H, N, D)
  auto k = RotateHeadsFirst(parts[1], cos, sin);
  auto v = parts[2].transpose(0, 1);
  auto out = ops::SegmentAttention(q, k, v, segments);  // (H, N, D)
  return proj->forward(out.transpose(0, 1).reshape({n, heads_ * head_dim_}));
}

VisionMlp::VisionMlp(const Qwen2VisionConfig& c, at::Device device) : Module("VisionMlp") {
  fc1 = register_module("fc1", std::make_shared<Linear>(c.embed_dim, c.mlp_dim(), true, device));
  fc2 = register_module("fc2", std::make_shared<Linear>(c.mlp_dim(), c.embed_dim, true, device));
}

at::Tensor VisionMlp::forward(const at::Tensor& x) { return fc2->forward(QuickGelu(fc1->forward(x))); }

VisionBlock::VisionBlock(const Qwen2VisionConfig& c, at::Device device) : Module("VisionBlock") {
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(c.embed_dim, 1e-6, device));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(c.embed_dim, 1e-6, device));
  attn = register_module("attn", std::make_shared<VisionAttention>(c, device));
  mlp = register_module("mlp", std::make_shared<VisionMlp>(c, device));
}

at::Tensor VisionBlock::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                const std::vector<int64_t>& segments) {
  // The body owns its captures: a recompute wrapper runs it again in backward.
  return CallWithHooks(x, [this, cos, sin, segments](const at::Tensor& h) {
    auto a = h + attn->forward(norm1->forward(h), cos, sin, segments);
    return a + mlp->forward(norm2->forward(a));
  });
}

PatchMerger::PatchMerger(const Qwen2VisionConfig& c, at::Device device)
    : Module("PatchMerger"), merged_dim_(c.embed_dim * c.merge_units()) {
  ln_q = register_module("ln_q", std::make_shared<LayerNorm>(c.embed_dim, 1e-6, device));
  auto mlp = std::make_shared<Holder>();
  fc_in = mlp->Add("0", std::make_shared<Linear>(merged_dim_, merged_dim_, true, device));
  fc_out = mlp->Add("2", std::make_shared<Linear>(merged_dim_, c.hidden_size, true, device));
  register_module("mlp", mlp);
}

at::Tensor PatchMerger::forward(const at::Tensor& x) {
  auto h = ln_q->forward(x).reshape({-1, merged_dim_});
  return fc_out->forward(at::gelu(fc_in->forward(h)));
}

Qwen2VisionTower::Qwen2VisionTower(const Qwen2VisionConfig& config, at::Device device)
    : Module("Qwen2VisionTower"), config_(config) {
  config_.Validate("vision config");
  patch_embed = register_module("patch_embed", std::make_shared<PatchEmbed>(config_, device));
  auto list = torch::nn::ModuleList();
  for (int64_t i = 0; i < config_.depth; ++i) {
    blocks.push_back(std::make_shared<VisionBlock>(config_, device));
    list->push_back(blocks.back());
  }
  register_module("blocks", list);
  merger = register_module("merger", std::make_shared<PatchMerger>(config_, device));
  // VisionRotaryEmbedding(head_dim / 2): theta 1e4 over dim/2 even indices.
  const int64_t dim = config_.head_dim() / 2;
  inv_freq_ = 1.0 / at::pow(10000.0, at::arange(0, dim, 2, at::kFloat) / static_cast<double>(dim));
}

std::vector<int64_t> Qwen2VisionTower::Segments(const at::Tensor& pixel_values,
                                                const std::vector<ImageGrid>& grids) const {
  if (pixel_values.dim() != 2 || pixel_values.size(1) != config_.patch_dim()) {
    throw ConfigError(ErrorWithFix(
        "pixel_values must be (patches, " + std::to_string(config_.patch_dim()) + ") (C x temporal_patch x patch^2)",
        "flatten each patch as the Qwen2-VL image processor does"));
  }
  const int64_t m = config_.spatial_merge_size;
  std::vector<int64_t> segments;
  int64_t total = 0;
  for (size_t i = 0; i < grids.size(); ++i) {
    const auto [t, h, w] = grids[i];
    if (t < 1 || h < 1 || w < 1 || h % m != 0 || w % m != 0) {
      throw ConfigError(ErrorWithFix("image " + std::to_string(i) + " has grid (t, h, w) = (" + std::to_string(t) +
                                         ", " + std::to_string(h) + ", " + std::to_string(w) + ")",
                                     "t >= 1 and h, w positive multiples of spatial_merge_size " + std::to_string(m)));
    }
    segments.insert(segments.end(), t, h * w);  // one attention segment per frame
    total += grids[i].patches();
  }
  if (total != pixel_values.size(0)) {
    throw ConfigError(ErrorWithFix("grid_thw describes " + std::to_string(total) + " patches but pixel_values has " +
                                       std::to_string(pixel_values.size(0)) + " rows",
                                   "pass the grid of every image whose patches are in pixel_values, in order"));
  }
  return segments;
}

std::pair<at::Tensor, at::Tensor> Qwen2VisionTower::RotaryCosSin(const std::vector<ImageGrid>& grids) const {
  if (grids.empty()) {  // no images in this micro-batch
    auto none = at::empty({0, config_.head_dim()}, at::kFloat);
    return {none, none};
  }
  const int64_t m = config_.spatial_merge_size;
  std::vector<at::Tensor> ids;
  int64_t max_grid = 0;
  for (const auto& [t, h, w] : grids) {
    max_grid = std::max({max_grid, h, w});
    // Row and column of each patch, in merge-block order: (h/m, w/m, m, m).
    auto hpos = at::arange(h, at::kLong).unsqueeze(1).expand({h, w});
    auto wpos = at::arange(w, at::kLong).unsqueeze(0).expand({h, w});
    const auto blocks = [&, h = h, w = w](const at::Tensor& pos) {
      return pos.reshape({h / m, m, w / m, m}).permute({0, 2, 1, 3}).flatten();
    };
    ids.push_back(at::stack({blocks(hpos), blocks(wpos)}, -1).repeat({t, 1}));  // (t*h*w, 2)
  }
  auto pos = at::cat(ids, 0);                                                           // (N, 2)
  auto table = at::outer(at::arange(max_grid, at::kFloat), inv_freq_);                  // (G, D/4)
  auto half = table.index_select(0, pos.flatten()).reshape({pos.size(0), -1});          // (N, D/2)
  auto emb = at::cat({half, half}, -1);                                                 // (N, D)
  return {emb.cos(), emb.sin()};
}

at::Tensor Qwen2VisionTower::forward(const at::Tensor& pixel_values, const at::Tensor& grid_thw) {
  const auto grids = ReadImageGrids(grid_thw);
  const auto segments = Segments(pixel_values, grids);
  auto [cos, sin] = RotaryCosSin(grids);
  cos = cos.to(pixel_values.device()), sin = sin.to(pixel_values.device());
  return CallWithHooks(pixel_values, [this, cos, sin, segments](const at::Tensor& px) {
    auto h = patch_embed->forward(px);
    for (auto& block : blocks) h = block->forward(h, cos, sin, segments);
    return merger->forward(h);
  });
}

}  // namespace loom::models
