// Communicator: Loom's one interface over a real collective library.
//
// c10d-shaped: one abstract class, per-op option structs with in-class
// defaults, every op asynchronous (returns a Work; results are valid after
// Work::Wait). Backends: c10d's Gloo process group on CPU (see
// docs/design/collectives.md); NCCL on GPU builds.
//
// Tensor conventions (dim 0 is the rank dim of every concatenation):
//   AllGather      input (n, ...)        -> output (size*n, ...)
//   ReduceScatter  input (size*n, ...)   -> output (n, ...)
//   AllToAll       input (sum(in_splits), ...) -> output (sum(out_splits), ...)
//                  rank r sends rows [in_off[q], in_off[q]+in_splits[q]) to q
// Tensors must be contiguous and on the backend's device; outputs are written
// in place and must not alias inputs. Every member of a communicator must
// issue the same collectives in the same order.
//
// Threading: one communicator may be used from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "parallel/comm/work.h"

namespace loom::comm {

enum class ReduceOp { kSum, kAvg, kMax };
const char* ReduceOpName(ReduceOp op);

struct AllReduceOptions {
  ReduceOp op = ReduceOp::kSum;
};

struct ReduceScatterOptions {
  ReduceOp op = ReduceOp::kSum;
};

struct AllToAllOptions {
  // Rows (dim 0) this rank receives from / sends to each peer. Both empty
  // means an even split (dim 0 divisible by size).
  std::vector<int64_t> output_split_sizes;
  std::vector<int64_t> input_split_sizes;
};

struct BroadcastOptions {
  int root = 0;  // rank within this communicator
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Human-readable group name ("world", "fsdp", ...), used in error messages.
  const std::string& name() const { return name_; }
  // World ranks of the members, in communicator-rank order.
  const std::vector<int>& world_ranks() const { return world_ranks_; }
  // Where this communicator's tensors must live: the CPU for Gloo, this
  // rank's GPU for NCCL (helpers put their scalars there).
  virtual at::Device device() const { return at::kCPU; }

  // In place over `tensor`, on every member.
  virtual WorkPtr AllReduce(at::Tensor& tensor, const AllReduceOptions& options = {}) = 0;
  virtual WorkPtr AllGather(at::Tensor& output, const at::Tensor& input) = 0;
  virtual WorkPtr ReduceScatter(at::Tensor& output, const at::Tensor& input,
                                const ReduceScatterOptions& options = {}) = 0;
  virtual WorkPtr AllToAll(at::Tensor& output, const at::Tensor& input,
                           const AllToAllOptions& options = {}) = 0;
  virtual WorkPtr Broadcast(at::Tensor& tensor, const BroadcastOptions& options = {}) = 0;
  virtual WorkPtr Barrier() = 0;

  // A new communicator over `ranks` (ranks of *this* communicator, sorted,
  // containing this rank). Only the members call it, every member with the
  // same ranks and name, and members call their Splits in the same order.
  virtual std::shared_ptr<Communicator> Split(const std::vector<int>& ranks,
                                              const std::string& name) = 0;

 protected:
  Communicator(int rank, int size, std::string name, std::vector<int> world_ranks)
      : rank_(rank), size_(size), name_(std::move(name)), world_ranks_(std::move(world_ranks)) {}

  // "<op> on <name> (rank r/size)" for errors and Work descriptions.
  std::string Describe(const std::string& op) const;

 private:
  int rank_;
  int size_;
  std::string name_;
  std::vector<int> world_ranks_;
};

using CommunicatorPtr = std::shared_ptr<Communicator>;

// --- Convenience helpers built on the interface (blocking) -----------------

// Allocates (size*n, ...) and all-gathers `input` (n, ...) into it.
at::Tensor AllGatherDim0(Communicator& comm, const at::Tensor& input);

// Sum of `value` over every member (fp64 all-reduce; blocking).
double AllReduceSum(Communicator& comm, double value);

// Uneven all-to-all when receivers don't know their counts: exchanges
// `input_split_sizes` first, then the rows. Returns the received rows and how
// many came from each peer.
struct AllToAllResult {
  at::Tensor output;
  std::vector<int64_t> output_split_sizes;
};
AllToAllResult AllToAllExchange(Communicator& comm, const at::Tensor& input,
                                const std::vector<int64_t>& input_split_sizes);

}  // namespace loom::comm
