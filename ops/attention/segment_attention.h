// Full (non-causal) attention within segments of one packed sequence: the
// attention of encoders whose items (an image's frame, an audio clip) share
// one row of tokens but never see each other.
//
//   q, k, v (H, N, D); lengths: segment sizes summing to N, each > 0
//   -> (H, N, D), position i attending to every j of its own segment
//
// Each segment runs as its own SDPA call (no (N, N) mask is built): the
// same chunking Hugging Face's eager/SDPA vision attention uses, so the
// result matches it to rounding.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::ops {

// scale 0 = 1/sqrt(D).
at::Tensor SegmentAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const std::vector<int64_t>& lengths, double scale = 0);

}  // namespace loom::ops
