#include "ops/base/sequence_shard.h"

#include <ATen/ATen.h>

namespace loom::ops {

at::Tensor ShardSequence(const at::Tensor& x, int64_t dim, int64_t rank, int64_t size, double pad_value) {
  const int64_t len = x.size(dim), slice = (len + size - 1) / size;
  at::Tensor padded = x;
  if (slice * size > len) {
    auto shape = x.sizes().vec();
    shape[dim] = slice * size - len;
    padded = at::cat({x, at::full(shape, pad_value, x.options())}, dim);
  }
  return padded.narrow(dim, rank * slice, slice);
}

}  // namespace loom::ops
