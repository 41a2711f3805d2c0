#include "models/core/image_grid.h"

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::models {

std::vector<ImageGrid> ReadImageGrids(const at::Tensor& grid_thw) {
  std::vector<ImageGrid> out;
  if (!grid_thw.defined()) return out;
  if (grid_thw.dim() != 2 || grid_thw.size(1) != 3) {
    throw ConfigError(ErrorWithFix("grid_thw must be (images, 3) (t, h, w) rows",
                                   "pass one (t, h, w) row of patch counts per image"));
  }
  const auto g = grid_thw.to(at::kCPU, at::kLong).contiguous();
  const int64_t* p = g.data_ptr<int64_t>();
  for (int64_t i = 0; i < g.size(0); ++i) out.push_back({p[3 * i], p[3 * i + 1], p[3 * i + 2]});
  return out;
}

}  // namespace loom::models
