// C10dCommunicator: the Communicator over a c10d::Backend: Gloo (CPU
// tensors), or NCCL (tensors on the rank's GPU; a CUDA build, with a GPU).
//
// Groups are c10d backends created over a c10d::Store; Split makes a new
// backend for the member ranks over a PrefixStore, so no global registry is
// involved and process groups stay plain values.
#pragma once

#include <functional>

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "parallel/comm/communicator.h"

namespace loom::comm {

enum class BackendKind { kGloo, kNccl };
const char* BackendKindName(BackendKind kind);

struct CommOptions {
  BackendKind backend = BackendKind::kGloo;
  // Collective timeout; a dead or hung peer fails the op after this long.
  std::chrono::milliseconds timeout = std::chrono::seconds(300);
  // NCCL: this rank's GPU (cuda:LOCAL_RANK), where its tensors live.
  at::Device device = at::kCPU;
};

// Whether this Loom was built with NCCL (a CUDA LibTorch: make build-cuda).
bool NcclBuilt();

class C10dCommunicator : public Communicator {
 public:
  // Joins a group of `size` members through `store` (every member calls it
  // with the same store contents). Blocks until all members arrive or the
  // timeout passes.
  static std::shared_ptr<C10dCommunicator> Create(c10::intrusive_ptr<c10d::Store> store,
                                                  int rank, int size,
                                                  const CommOptions& options,
                                                  std::string name = "world");

  WorkPtr AllReduce(at::Tensor& tensor, const AllReduceOptions& options = {}) override;
  WorkPtr AllGather(at::Tensor& output, const at::Tensor& input) override;
  WorkPtr ReduceScatter(at::Tensor& output, const at::Tensor& input,
                        const ReduceScatterOptions& options = {}) override;
  WorkPtr AllToAll(at::Tensor& output, const at::Tensor& input,
                   const AllToAllOptions& options = {}) override;
  WorkPtr Broadcast(at::Tensor& tensor, const BroadcastOptions& options = {}) override;
  WorkPtr Barrier() override;
  std::shared_ptr<Communicator> Split(const std::vector<int>& ranks,
                                     const std::string& name) override;

  const c10::intrusive_ptr<c10d::Backend>& backend() const { return backend_; }
  at::Device device() const override { return options_.device; }

 private:
  C10dCommunicator(c10::intrusive_ptr<c10d::Store> store, c10::intrusive_ptr<c10d::Backend> backend,
                   int rank, int size, std::string name, std::vector<int> world_ranks,
                   CommOptions options);

  void CheckTensor(const char* op, const char* role, const at::Tensor& t) const;

  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  CommOptions options_;
  int split_count_ = 0;
};

}  // namespace loom::comm
