#include "parallel/comm/autograd.h"

#include <numeric>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/base/error.h"

namespace loom::comm {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Lets a communicator ride in AutogradContext::saved_data.
struct CommHolder : torch::CustomClassHolder {
  explicit CommHolder(CommunicatorPtr c) : comm(std::move(c)) {}
  CommunicatorPtr comm;
};

c10::IValue Hold(const CommunicatorPtr& comm) {
  return c10::IValue::make_capsule(c10::make_intrusive<CommHolder>(comm));
}

CommunicatorPtr Held(AutogradContext* ctx) {
  return c10::static_intrusive_pointer_cast<CommHolder>(ctx->saved_data["comm"].toCapsule())->comm;
}

at::Tensor GatherImpl(Communicator& comm, const at::Tensor& x) {
  return AllGatherDim0(comm, x);
}

at::Tensor ReduceScatterImpl(Communicator& comm, const at::Tensor& x) {
  auto in = x.contiguous();
  if (in.dim() == 0 || in.size(0) % comm.size() != 0) {
    throw ConfigError("reduce-scatter to sharded region: dim 0 of " +
                      std::to_string(in.dim() ? in.size(0) : 0) + " is not divisible by group '" +
                      comm.name() + "' of size " + std::to_string(comm.size()));
  }
  std::vector<int64_t> sizes = in.sizes().vec();
  sizes[0] /= comm.size();
  auto out = at::empty(sizes, in.options());
  comm.ReduceScatter(out, in)->Wait();
  return out;
}

at::Tensor AllToAllImpl(Communicator& comm, const at::Tensor& x,
                        const std::vector<int64_t>& out_splits,
                        const std::vector<int64_t>& in_splits) {
  auto in = x.contiguous();
  std::vector<int64_t> sizes = in.sizes().vec();
  if (!out_splits.empty()) {
    sizes[0] = std::accumulate(out_splits.begin(), out_splits.end(), int64_t{0});
  }
  auto out = at::empty(sizes, in.options());
  AllToAllOptions options;
  options.output_split_sizes = out_splits;
  options.input_split_sizes = in_splits;
  comm.AllToAll(out, in, options)->Wait();
  return out;
}

at::Tensor ScatterGatherImpl(Communicator& comm, const at::Tensor& x, int64_t scatter_dim,
                             int64_t gather_dim) {
  const int64_t p = comm.size();
  if (x.size(scatter_dim) % p != 0) {
    throw ConfigError("all-to-all: dim " + std::to_string(scatter_dim) + " of size " +
                      std::to_string(x.size(scatter_dim)) + " is not divisible by group '" +
                      comm.name() + "' of size " + std::to_string(p));
  }
  // (P, ...piece) with piece q destined for rank q.
  auto pieces = at::stack(x.chunk(p, scatter_dim), 0).contiguous();
  auto received = at::empty_like(pieces);
  comm.AllToAll(received, pieces)->Wait();
  // received[q] came from rank q: concatenate in rank order along gather_dim.
  return at::cat(received.unbind(0), gather_dim);
}

struct GatherFn : torch::autograd::Function<GatherFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, c10::IValue comm) {
    ctx->saved_data["comm"] = comm;
    return GatherImpl(*Held(ctx), x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {ReduceScatterImpl(*Held(ctx), grads[0]), at::Tensor()};
  }
};

struct ReduceScatterFn : torch::autograd::Function<ReduceScatterFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, c10::IValue comm) {
    ctx->saved_data["comm"] = comm;
    return ReduceScatterImpl(*Held(ctx), x);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {GatherImpl(*Held(ctx), grads[0]), at::Tensor()};
  }
};

struct AllToAllFn : torch::autograd::Function<AllToAllFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, c10::IValue comm,
                            std::vector<int64_t> out_splits, std::vector<int64_t> in_splits) {
    ctx->saved_data["comm"] = comm;
    ctx->saved_data["out_splits"] = out_splits;
    ctx->saved_data["in_splits"] = in_splits;
    return AllToAllImpl(*Held(ctx), x, out_splits, in_splits);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Inverse exchange: what we received goes back to where it came from.
    auto out_splits = ctx->saved_data["out_splits"].toIntVector();
    auto in_splits = ctx->saved_data["in_splits"].toIntVector();
    return {AllToAllImpl(*Held(ctx), grads[0], in_splits, out_splits), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

struct ScatterGatherFn : torch::autograd::Function<ScatterGatherFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, c10::IValue comm,
                            int64_t scatter_dim, int64_t gather_dim) {
    ctx->saved_data["comm"] = comm;
    ctx->saved_data["scatter_dim"] = scatter_dim;
    ctx->saved_data["gather_dim"] = gather_dim;
    return ScatterGatherImpl(*Held(ctx), x, scatter_dim, gather_dim);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t scatter_dim = ctx->saved_data["scatter_dim"].toInt();
    const int64_t gather_dim = ctx->saved_data["gather_dim"].toInt();
    return {ScatterGatherImpl(*Held(ctx), grads[0], gather_dim, scatter_dim), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

// Where StartFn leaves the work it started.
struct WorkSlot : torch::CustomClassHolder {
  WorkPtr work;
};

struct StartFn : torch::autograd::Function<StartFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& pieces, c10::IValue comm, c10::IValue slot,
                            std::vector<int64_t> out_splits, std::vector<int64_t> in_splits) {
    ctx->saved_data["comm"] = comm;
    ctx->saved_data["out_splits"] = out_splits;
    ctx->saved_data["in_splits"] = in_splits;
    auto in = pieces.contiguous();
    std::vector<int64_t> sizes = in.sizes().vec();
    if (!out_splits.empty()) sizes[0] = std::accumulate(out_splits.begin(), out_splits.end(), int64_t{0});
    auto received = at::empty(sizes, in.options());
    AllToAllOptions options;
    options.output_split_sizes = std::move(out_splits);
    options.input_split_sizes = std::move(in_splits);
    auto* s = static_cast<WorkSlot*>(slot.toCapsule().get());
    // The backend's work keeps `in` and `received` alive until it completes.
    s->work = Held(ctx)->AllToAll(received, in, options);
    return received;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto out_splits = ctx->saved_data["out_splits"].toIntVector();
    auto in_splits = ctx->saved_data["in_splits"].toIntVector();
    return {AllToAllImpl(*Held(ctx), grads[0], in_splits, out_splits), at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor StartAllToAll(const at::Tensor& pieces, const CommunicatorPtr& comm, PendingAllToAll* pending,
                         const std::vector<int64_t>& output_split_sizes,
                         const std::vector<int64_t>& input_split_sizes) {
  auto slot = c10::make_intrusive<WorkSlot>();
  auto out = StartFn::apply(pieces, Hold(comm), c10::IValue::make_capsule(slot), output_split_sizes,
                            input_split_sizes);
  pending->work = slot->work;
  return out;
}

at::Tensor GatherFromShardedRegion(const at::Tensor& x, const CommunicatorPtr& comm) {
  return GatherFn::apply(x, Hold(comm));
}

at::Tensor ReduceScatterToShardedRegion(const at::Tensor& x, const CommunicatorPtr& comm) {
  return ReduceScatterFn::apply(x, Hold(comm));
}

at::Tensor AllToAllRegion(const at::Tensor& x, const CommunicatorPtr& comm,
                          const std::vector<int64_t>& output_split_sizes,
                          const std::vector<int64_t>& input_split_sizes) {
  return AllToAllFn::apply(x, Hold(comm), output_split_sizes, input_split_sizes);
}

at::Tensor AllToAllScatterGather(const at::Tensor& x, const CommunicatorPtr& comm,
                                 int64_t scatter_dim, int64_t gather_dim) {
  scatter_dim = c10::maybe_wrap_dim(scatter_dim, x.dim());
  gather_dim = c10::maybe_wrap_dim(gather_dim, x.dim());
  return ScatterGatherFn::apply(x, Hold(comm), scatter_dim, gather_dim);
}

}  // namespace loom::comm
