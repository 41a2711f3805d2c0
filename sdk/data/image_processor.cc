#include "sdk/data/image_processor.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::data {

int64_t ProcessedImage::tokens() const {
  return grid_thw[0].item<int64_t>() * grid_thw[1].item<int64_t>() * grid_thw[2].item<int64_t>() / merge_units;
}

std::pair<int64_t, int64_t> SmartResize(int64_t height, int64_t width, const Qwen2VlImageOptions& o) {
  if (height <= 0 || width <= 0) {
    throw DataError(ErrorWithFix("an image of " + std::to_string(height) + " x " + std::to_string(width) + " pixels",
                                 "use a non-empty image"));
  }
  const double h = static_cast<double>(height), w = static_cast<double>(width);
  if (std::max(h, w) / std::min(h, w) > 200) {
    throw DataError(ErrorWithFix("an image of " + std::to_string(height) + " x " + std::to_string(width) +
                                     " pixels has an aspect ratio above 200",
                                 "crop or pad it (Qwen2-VL's processor refuses it too)"));
  }
  const double factor = static_cast<double>(o.patch_size * o.merge_size);
  // std::nearbyint rounds half to even under the default rounding mode, as Python's round().
  auto h_bar = static_cast<int64_t>(std::nearbyint(h / factor) * factor);
  auto w_bar = static_cast<int64_t>(std::nearbyint(w / factor) * factor);
  const auto f = static_cast<int64_t>(factor);
  if (h_bar * w_bar > o.max_pixels) {
    const double beta = std::sqrt(h * w / static_cast<double>(o.max_pixels));
    h_bar = std::max(f, static_cast<int64_t>(std::floor(h / beta / factor)) * f);
    w_bar = std::max(f, static_cast<int64_t>(std::floor(w / beta / factor)) * f);
  } else if (h_bar * w_bar < o.min_pixels) {
    const double beta = std::sqrt(static_cast<double>(o.min_pixels) / (h * w));
    h_bar = static_cast<int64_t>(std::ceil(h * beta / factor)) * f;
    w_bar = static_cast<int64_t>(std::ceil(w * beta / factor)) * f;
  }
  return {h_bar, w_bar};
}

ProcessedImage ProcessQwen2VlImage(const at::Tensor& rgb, const Qwen2VlImageOptions& o) {
  if (rgb.dim() != 3 || rgb.size(0) != 3 || rgb.scalar_type() != at::kByte) {
    throw Error("ProcessQwen2VlImage: expected (3, H, W) uint8, got " + c10::str(rgb.sizes()) + " " +
                c10::toString(rgb.scalar_type()));
  }
  const auto [h, w] = SmartResize(rgb.size(1), rgb.size(2), o);
  auto x = rgb.unsqueeze(0);  // (1, 3, H, W)
  if (h != rgb.size(1) || w != rgb.size(2)) x = at::_upsample_bicubic2d_aa(x, {h, w}, /*align_corners=*/false);
  const auto mean = at::tensor(at::ArrayRef<float>(o.mean.data(), 3), at::kFloat) * 255.0f;
  const auto stdev = at::tensor(at::ArrayRef<float>(o.std.data(), 3), at::kFloat) * 255.0f;
  auto pixels = (x.to(at::kFloat) - mean.view({1, 3, 1, 1})) / stdev.view({1, 3, 1, 1});  // (1, 3, H', W')
  const int64_t p = o.patch_size, m = o.merge_size, tps = o.temporal_patch_size;
  const int64_t gh = h / p, gw = w / p;
  // (t=1 frame repeated to tps) -> (1, tps, C, gh/m, m, p, gw/m, m, p)
  auto frames = pixels.unsqueeze(1).expand({1, tps, 3, h, w});
  auto patches = frames.reshape({1, tps, 3, gh / m, m, p, gw / m, m, p}).permute({0, 3, 6, 4, 7, 2, 1, 5, 8});
  ProcessedImage out;
  out.pixel_values = patches.reshape({gh * gw, 3 * tps * p * p}).contiguous();
  out.grid_thw = at::tensor({int64_t{1}, gh, gw}, at::kLong);
  out.merge_units = m * m;
  return out;
}

}  // namespace loom::data
