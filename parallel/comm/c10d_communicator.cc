#include "parallel/comm/c10d_communicator.h"

#include <numeric>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/cuda.h>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "ops/base/error.h"

namespace loom::comm {
namespace {

c10::intrusive_ptr<c10d::Backend> MakeBackend(const c10::intrusive_ptr<c10d::Store>& store,
                                              int rank, int size, const CommOptions& options) {
  switch (options.backend) {
    case BackendKind::kGloo: {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create_default(options.timeout);
      return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, gloo_options);
    }
    case BackendKind::kNccl: {
#ifdef USE_C10D_NCCL
      if (!torch::cuda::is_available()) {
        throw ConfigError(ErrorWithFix("the NCCL backend needs a CUDA device, and none is visible "
                                       "(torch::cuda::is_available() is false)",
                                       "run on a GPU machine, or use --backend gloo"));
      }
      if (!options.device.is_cuda()) {
        throw ConfigError(ErrorWithFix("the NCCL backend was given device " + options.device.str(),
                                       "set CommOptions::device to this rank's GPU (cuda:LOCAL_RANK)"));
      }
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, nccl_options);
#else
      throw ConfigError(ErrorWithFix("the NCCL backend is not built into this Loom (a CPU LibTorch)",
                                     "use --backend gloo, or build Loom against a CUDA LibTorch (make build-cuda)"));
#endif
    }
  }
  throw ConfigError("unknown backend kind");
}

// Gloo has no AVG: reduce with SUM and divide once the op completes.
c10d::ReduceOp ToC10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum:
    case ReduceOp::kAvg:
      return c10d::ReduceOp(c10d::ReduceOp::SUM);
    case ReduceOp::kMax:
      return c10d::ReduceOp(c10d::ReduceOp::MAX);
  }
  return c10d::ReduceOp(c10d::ReduceOp::SUM);
}

std::function<void()> AverageAfter(ReduceOp op, at::Tensor tensor, int size) {
  if (op != ReduceOp::kAvg) return {};
  if (!at::isFloatingType(tensor.scalar_type())) {
    throw ConfigError(ErrorWithFix("ReduceOp avg needs a floating tensor",
                                   "use sum and divide, or convert to float first"));
  }
  return [tensor, size]() mutable { tensor.div_(size); };
}

std::string Shape(const at::Tensor& t) {
  std::ostringstream os;
  os << t.sizes() << " " << t.scalar_type();
  return os.str();
}

template <typename F>
WorkPtr Run(const std::string& what, F&& start, std::function<void()> finish = {}) {
  try {
    return std::make_shared<Work>(start(), what, std::move(finish));
  } catch (const loom::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DistError(what + " failed: " + e.what());
  }
}

}  // namespace

const char* ReduceOpName(ReduceOp op) {
  switch (op) {
    case ReduceOp::kSum: return "sum";
    case ReduceOp::kAvg: return "avg";
    case ReduceOp::kMax: return "max";
  }
  return "?";
}

bool NcclBuilt() {
#ifdef USE_C10D_NCCL
  return true;
#else
  return false;
#endif
}

const char* BackendKindName(BackendKind kind) {
  return kind == BackendKind::kGloo ? "gloo" : "nccl";
}

std::string Communicator::Describe(const std::string& op) const {
  return op + " on group '" + name_ + "' (rank " + std::to_string(rank_) + "/" +
         std::to_string(size_) + ")";
}

C10dCommunicator::C10dCommunicator(c10::intrusive_ptr<c10d::Store> store,
                                   c10::intrusive_ptr<c10d::Backend> backend, int rank, int size,
                                   std::string name, std::vector<int> world_ranks,
                                   CommOptions options)
    : Communicator(rank, size, std::move(name), std::move(world_ranks)),
      store_(std::move(store)),
      backend_(std::move(backend)),
      options_(options) {}

std::shared_ptr<C10dCommunicator> C10dCommunicator::Create(c10::intrusive_ptr<c10d::Store> store,
                                                           int rank, int size,
                                                           const CommOptions& options,
                                                           std::string name) {
  if (size < 1 || rank < 0 || rank >= size) {
    throw ConfigError("invalid rank " + std::to_string(rank) + " for a group of size " +
                      std::to_string(size));
  }
  c10::intrusive_ptr<c10d::Backend> backend;
  try {
    backend = MakeBackend(store, rank, size, options);
  } catch (const loom::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DistNetworkError("creating " + std::string(BackendKindName(options.backend)) +
                           " group '" + name + "' (rank " + std::to_string(rank) + "/" +
                           std::to_string(size) + ") failed: " + e.what());
  }
  std::vector<int> world_ranks(size);
  std::iota(world_ranks.begin(), world_ranks.end(), 0);
  return std::shared_ptr<C10dCommunicator>(new C10dCommunicator(
      std::move(store), std::move(backend), rank, size, std::move(name), std::move(world_ranks),
      options));
}

void C10dCommunicator::CheckTensor(const char* op, const char* role, const at::Tensor& t) const {
  if (!t.defined()) throw ConfigError(Describe(op) + ": " + role + " tensor is undefined");
  if (!t.is_contiguous()) {
    throw ConfigError(ErrorWithFix(Describe(op) + ": " + role + " tensor is not contiguous",
                                   "pass tensor.contiguous()"));
  }
}

WorkPtr C10dCommunicator::AllReduce(at::Tensor& tensor, const AllReduceOptions& options) {
  CheckTensor("all_reduce", "input", tensor);
  auto finish = AverageAfter(options.op, tensor, size());
  c10d::AllreduceOptions o;
  o.reduceOp = ToC10d(options.op);
  return Run(Describe(std::string("all_reduce(") + ReduceOpName(options.op) + ")"), [&] {
    std::vector<at::Tensor> tensors{tensor};
    return backend_->allreduce(tensors, o);
  }, std::move(finish));
}

WorkPtr C10dCommunicator::AllGather(at::Tensor& output, const at::Tensor& input) {
  CheckTensor("all_gather", "input", input);
  CheckTensor("all_gather", "output", output);
  if (output.numel() != input.numel() * size() || output.scalar_type() != input.scalar_type()) {
    throw ConfigError(Describe("all_gather") + ": output " + Shape(output) +
                      " must hold size x input " + Shape(input));
  }
  return Run(Describe("all_gather"), [&] {
    at::Tensor in = input;
    return backend_->_allgather_base(output, in);
  });
}

WorkPtr C10dCommunicator::ReduceScatter(at::Tensor& output, const at::Tensor& input,
                                        const ReduceScatterOptions& options) {
  CheckTensor("reduce_scatter", "input", input);
  CheckTensor("reduce_scatter", "output", output);
  if (input.numel() != output.numel() * size() || output.scalar_type() != input.scalar_type()) {
    throw ConfigError(Describe("reduce_scatter") + ": input " + Shape(input) +
                      " must hold size x output " + Shape(output));
  }
  auto finish = AverageAfter(options.op, output, size());
  c10d::ReduceScatterOptions o;
  o.reduceOp = ToC10d(options.op);
  return Run(Describe(std::string("reduce_scatter(") + ReduceOpName(options.op) + ")"), [&] {
    at::Tensor in = input;
    return backend_->_reduce_scatter_base(output, in, o);
  }, std::move(finish));
}

WorkPtr C10dCommunicator::AllToAll(at::Tensor& output, const at::Tensor& input,
                                   const AllToAllOptions& options) {
  CheckTensor("all_to_all", "input", input);
  CheckTensor("all_to_all", "output", output);
  const auto check_splits = [&](const std::vector<int64_t>& splits, const at::Tensor& t,
                                const char* role) {
    if (splits.empty()) {
      if (t.dim() == 0 || t.size(0) % size() != 0) {
        throw ConfigError(ErrorWithFix(Describe("all_to_all") + ": " + role + " " + Shape(t) +
                                           " has dim 0 not divisible by " +
                                           std::to_string(size()),
                                       "pass split sizes for an uneven all_to_all"));
      }
      return;
    }
    const int64_t total = std::accumulate(splits.begin(), splits.end(), int64_t{0});
    if (static_cast<int>(splits.size()) != size() || t.dim() == 0 || total != t.size(0)) {
      throw ConfigError(Describe("all_to_all") + ": " + role + " split sizes (" +
                        std::to_string(splits.size()) + " entries, sum " + std::to_string(total) +
                        ") must have one entry per rank summing to dim 0 of " + Shape(t));
    }
  };
  check_splits(options.input_split_sizes, input, "input");
  check_splits(options.output_split_sizes, output, "output");
  return Run(Describe("all_to_all"), [&] {
    at::Tensor in = input;
    std::vector<int64_t> out_splits = options.output_split_sizes;
    std::vector<int64_t> in_splits = options.input_split_sizes;
    return backend_->alltoall_base(output, in, out_splits, in_splits);
  });
}

WorkPtr C10dCommunicator::Broadcast(at::Tensor& tensor, const BroadcastOptions& options) {
  CheckTensor("broadcast", "input", tensor);
  if (options.root < 0 || options.root >= size()) {
    throw ConfigError(Describe("broadcast") + ": root " + std::to_string(options.root) +
                      " is not a rank of this group");
  }
  c10d::BroadcastOptions o;
  o.rootRank = options.root;
  return Run(Describe("broadcast"), [&] {
    std::vector<at::Tensor> tensors{tensor};
    return backend_->broadcast(tensors, o);
  });
}

WorkPtr C10dCommunicator::Barrier() {
  return Run(Describe("barrier"), [&] { return backend_->barrier(c10d::BarrierOptions()); });
}

std::shared_ptr<Communicator> C10dCommunicator::Split(const std::vector<int>& ranks,
                                                      const std::string& name) {
  const auto me = std::find(ranks.begin(), ranks.end(), rank());
  if (me == ranks.end() || !std::is_sorted(ranks.begin(), ranks.end()) ||
      std::adjacent_find(ranks.begin(), ranks.end()) != ranks.end()) {
    throw ConfigError("Split of '" + this->name() + "' into '" + name +
                      "': ranks must be sorted, distinct and include the caller (rank " +
                      std::to_string(rank()) + ")");
  }
  std::ostringstream prefix;
  prefix << this->name() << "/" << split_count_++ << "/" << name << "[";
  for (int r : ranks) prefix << r << ",";
  prefix << "]";
  auto store = c10::make_intrusive<c10d::PrefixStore>(prefix.str(), store_);
  const int group_rank = static_cast<int>(me - ranks.begin());
  const int group_size = static_cast<int>(ranks.size());
  auto child = Create(store, group_rank, group_size, options_, name);
  std::vector<int> world;
  for (int r : ranks) world.push_back(world_ranks()[r]);
  return std::shared_ptr<C10dCommunicator>(new C10dCommunicator(
      child->store_, child->backend_, group_rank, group_size, name, std::move(world), options_));
}

}  // namespace loom::comm
