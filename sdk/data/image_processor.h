// Qwen2-VL's image processor in C++, equal to transformers'
// Qwen2VLImageProcessorFast (4.57.1) on the same RGB pixels:
//
//   1. smart_resize: H and W rounded to multiples of patch x merge (28),
//      Python's round (half to even); above max_pixels scaled down by
//      sqrt(HW / max_pixels) and floored, below min_pixels scaled up and
//      ceiled; an aspect ratio above 200 is an error;
//   2. bicubic, antialiased resize of the uint8 image (torchvision's
//      F.resize on CPU: at::_upsample_bicubic2d_aa on uint8);
//   3. fused rescale + normalise in fp32: (x - 255 mean) / (255 std);
//   4. the single frame repeated to temporal_patch_size, then patchified:
//      (t, tps, C, gh/m, m, p, gw/m, m, p) -> (t gh/m gw/m m m, C tps p p),
//      i.e. each merge group's m x m patches consecutive, as the vision
//      tower (models/vision/qwen2_vision.h) expects.
//
// Legend: H, W pixels; p patch_size; m merge_size; gh = H'/p, gw = W'/p.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include <ATen/core/Tensor.h>

namespace loom::data {

struct Qwen2VlImageOptions {  // defaults: Qwen2-VL's preprocessor_config.json
  int64_t patch_size = 14;
  int64_t merge_size = 2;
  int64_t temporal_patch_size = 2;
  int64_t min_pixels = 56 * 56;
  int64_t max_pixels = 28 * 28 * 1280;
  std::array<float, 3> mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std{0.26862954f, 0.26130258f, 0.27577711f};
};

struct ProcessedImage {
  at::Tensor pixel_values;  // (gh * gw, 3 * tps * p * p) float32
  at::Tensor grid_thw;      // (3) int64: 1, gh, gw
  int64_t tokens() const;   // LLM placeholder tokens: gh * gw / m^2 (set by the processor)
  int64_t merge_units = 4;
};

// (H', W') for an (H, W) image; DataError for an aspect ratio > 200 or an
// empty image.
std::pair<int64_t, int64_t> SmartResize(int64_t height, int64_t width, const Qwen2VlImageOptions& options);

// rgb: (3, H, W) uint8 (DecodeImageFile).
ProcessedImage ProcessQwen2VlImage(const at::Tensor& rgb, const Qwen2VlImageOptions& options = {});

}  // namespace loom::data
