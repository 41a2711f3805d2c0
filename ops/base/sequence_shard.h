// The one rule for splitting rows along the sequence across SP ranks: pad
// dimension `dim` on the right to a multiple of `size` with `pad_value`, then
// take shard `rank` of size ceil(len / size). The trainer slices text
// batches with it (sdk/train/sequence_slice.h); an omni model slices its
// placed embeddings, positions and documents with it.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace loom::ops {

// x (..., T, ...) along `dim` -> (..., ceil(T / size), ...), a view when no
// padding is needed. The caller checks 0 <= rank < size.
at::Tensor ShardSequence(const at::Tensor& x, int64_t dim, int64_t rank, int64_t size, double pad_value);

}  // namespace loom::ops
