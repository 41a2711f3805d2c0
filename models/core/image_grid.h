// The (t, h, w) patch grid of each image or video, as Qwen2-VL's processor
// reports it (image_grid_thw / video_grid_thw): read once from the tensor by
// the vision tower and by the M-RoPE position builder.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::models {

struct ImageGrid {
  int64_t t, h, w;  // frames (temporal patches), patch rows, patch columns
  int64_t patches() const { return t * h * w; }
};

// grid_thw (I, 3) int64 on any device -> I grids; undefined -> none. Any other
// shape is a ConfigError naming it and the fix.
std::vector<ImageGrid> ReadImageGrids(const at::Tensor& grid_thw);

}  // namespace loom::models
