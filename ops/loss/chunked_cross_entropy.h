// Cross-entropy of a linear head without materialising [tokens x vocab] logits.
//
//   hidden (N, C), weight (V, C), labels (N) int64 (kIgnore = -100 skipped)
//   -> scalar fp32: SUM over non-ignored tokens of -log softmax(hidden W^T)[label]
//
// Only the labelled tokens reach the head (the rest cost no logits). Forward
// and backward walk them in chunks of `chunk_size`, so peak extra
// memory is chunk_size x V floats; backward recomputes each chunk's logits
// (it keeps only the per-token logsumexp) - except when the labelled tokens
// fit in one chunk: forward then keeps that chunk's softmax (the same
// chunk x V floats, held until backward) and backward skips the recompute
// (one head matmul less per step). The caller divides by the global
// label-token count, which is what makes every parallel layout agree.
#pragma once

#include <ATen/core/Tensor.h>

namespace loom::ops {

constexpr int64_t kIgnoreLabel = -100;

// groups (N) int64 in [0, G), with group_sums pointing at a (G) tensor:
// also writes the token losses summed per group there (fp32, no gradient),
// at no extra matmul.
at::Tensor ChunkedCrossEntropySum(const at::Tensor& hidden, const at::Tensor& weight,
                                  const at::Tensor& labels, int64_t chunk_size,
                                  const at::Tensor& groups = {}, at::Tensor* group_sums = nullptr);

}  // namespace loom::ops
