// Differentiable collectives: forward/backward pairs named by the region
// transition they perform (Megatron's mappings, in C++).
//
// Gradient convention: the global loss is the SUM of every rank's local loss.
// Under it, the backward of an all-gather is a reduce-scatter(sum) and the
// backward of an all-to-all is the inverse all-to-all; each pair is checked
// against the single-process equivalent in tests/parallel/comm_autograd_test.cc.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "parallel/comm/communicator.h"

namespace loom::comm {

// x (n, ...) sharded over comm -> (size*n, ...) on every rank.
// Backward: reduce-scatter(sum) of the gradient.
at::Tensor GatherFromShardedRegion(const at::Tensor& x, const CommunicatorPtr& comm);

// x (size*n, ...) partial sums -> (n, ...): the summed shard of this rank.
// Backward: all-gather of the gradient.
at::Tensor ReduceScatterToShardedRegion(const at::Tensor& x, const CommunicatorPtr& comm);

// Uneven all-to-all along dim 0 (see Communicator::AllToAll for splits).
// Backward: the inverse all-to-all (splits swapped).
at::Tensor AllToAllRegion(const at::Tensor& x, const CommunicatorPtr& comm,
                          const std::vector<int64_t>& output_split_sizes,
                          const std::vector<int64_t>& input_split_sizes);

// Splits x along `scatter_dim` into size() pieces, sends piece q to rank q,
// and concatenates what arrives along `gather_dim` in rank order: e.g. Ulysses'
// (B, T/sp, H, D) -> (B, T, H/sp, D) with scatter_dim 2, gather_dim 1.
// Backward: the same exchange with the dims swapped.
at::Tensor AllToAllScatterGather(const at::Tensor& x, const CommunicatorPtr& comm,
                                 int64_t scatter_dim, int64_t gather_dim);

// Asynchronous all-to-all along dim 0, for overlapping communication with
// computation. Even (no splits): `pieces` (P, ...) holds piece q for rank q
// and the result (P, ...) has row q from rank q. Uneven: splits as in
// AllToAllRegion. Starts the exchange and returns the receive buffer,
// autograd-connected to `pieces`; it is being written until
// `pending->Wait()` returns: read it only after. Backward: the inverse
// exchange, blocking.
struct PendingAllToAll {
  WorkPtr work;
  void Wait() { if (work) work->Wait(); }
};
at::Tensor StartAllToAll(const at::Tensor& pieces, const CommunicatorPtr& comm, PendingAllToAll* pending,
                         const std::vector<int64_t>& output_split_sizes = {},
                         const std::vector<int64_t>& input_split_sizes = {});

}  // namespace loom::comm
