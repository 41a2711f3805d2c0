#include "ops/attention/segment_attention.h"

#include <cmath>
#include <string>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::ops {

at::Tensor SegmentAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const std::vector<int64_t>& lengths, double scale) {
  const int64_t n = q.size(1), dim = q.size(2);
  int64_t total = 0;
  for (int64_t len : lengths) {
    if (len <= 0) {
      throw ConfigError(ErrorWithFix("attention segment of length " + std::to_string(len),
                                     "give every image frame or clip at least one position"));
    }
    total += len;
  }
  if (total != n) {
    throw ConfigError(ErrorWithFix("attention segments cover " + std::to_string(total) +
                                       " positions but the sequence has " + std::to_string(n),
                                   "make the grid sizes (or clip lengths) add up to the rows given"));
  }
  if (scale <= 0) scale = 1.0 / std::sqrt(static_cast<double>(dim));
  // No segments (a micro-batch without images): (H, 0, D), still part of
  // the graph so its backward runs as on every other rank.
  if (lengths.empty()) return at::cat({q, k, v}, 1).narrow(1, 0, 0);
  std::vector<at::Tensor> outs;
  outs.reserve(lengths.size());
  int64_t begin = 0;
  for (int64_t len : lengths) {
    // (1, H, L, D): SDPA's batch dimension.
    auto qs = q.slice(1, begin, begin + len).unsqueeze(0);
    auto ks = k.slice(1, begin, begin + len).unsqueeze(0);
    auto vs = v.slice(1, begin, begin + len).unsqueeze(0);
    outs.push_back(at::scaled_dot_product_attention(qs, ks, vs, {}, 0.0, /*is_causal=*/false, scale).squeeze(0));
    begin += len;
  }
  return at::cat(outs, 1);
}

}  // namespace loom::ops
