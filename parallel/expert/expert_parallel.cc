#include "parallel/expert/expert_parallel.h"

#include <numeric>
#include <sstream>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "parallel/comm/autograd.h"

namespace loom::parallel {
namespace {

// The routing of one chunk of tokens, known before any row moves.
struct Route {
  at::Tensor token_of;                 // (A) token index of each sorted assignment
  at::Tensor weight;                   // (A) its routing weight
  std::vector<int64_t> send_splits;    // rows to each ep rank
  std::vector<int64_t> recv_splits;    // rows from each ep rank
  std::vector<int64_t> local_counts;   // rows per local expert, all sources
  at::Tensor regroup;                  // (M) source-major row -> expert-major position
  at::Tensor ungroup;                  // (M) inverse permutation
};

std::vector<int64_t> ToVector(const at::Tensor& t) {
  auto c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

Route MakeRoute(const at::Tensor& ids, const at::Tensor& weights, int64_t num_experts, comm::Communicator& ep) {
  const int64_t p = ep.size(), local = num_experts / p, k = ids.size(1);
  Route r;
  auto flat = ids.reshape({-1});
  auto order = std::get<1>(flat.sort(std::optional<bool>(true), 0, false));  // stable, by expert
  r.token_of = at::floor_divide(order, k);
  r.weight = weights.reshape({-1}).index_select(0, order);
  auto per_expert = at::bincount(flat, {}, num_experts).to(at::kLong);  // (E)
  // recv[src][e] = rows source src sends to my local expert e.
  auto recv = at::empty_like(per_expert);
  ep.AllToAll(recv, per_expert)->Wait();
  r.send_splits = ToVector(per_expert.view({p, local}).sum(1));
  r.recv_splits = ToVector(recv.view({p, local}).sum(1));
  r.local_counts = ToVector(recv.view({p, local}).sum(0));
  // Arrived rows are source-major, expert-sorted within a source. Position of
  // (src, e, i) in the expert-major grouping: expert offset + rows of e from
  // earlier sources + i.
  const auto rc = ToVector(recv);
  std::vector<int64_t> expert_offset(local, 0);
  for (int64_t e = 1; e < local; ++e) expert_offset[e] = expert_offset[e - 1] + r.local_counts[e - 1];
  std::vector<int64_t> regroup;
  std::vector<int64_t> seen(local, 0);
  for (int64_t src = 0; src < p; ++src) {
    for (int64_t e = 0; e < local; ++e) {
      const int64_t n = rc[src * local + e];
      for (int64_t i = 0; i < n; ++i) regroup.push_back(expert_offset[e] + seen[e] + i);
      seen[e] += n;
    }
  }
  const int64_t m = static_cast<int64_t>(regroup.size());
  r.ungroup = at::tensor(regroup, at::kLong);  // source-major index -> expert-major position
  r.regroup = at::empty({m}, at::kLong);
  r.regroup.index_copy_(0, r.ungroup, at::arange(m, at::kLong));  // expert-major -> source-major
  return r;
}

// Sorted assignment rows of one chunk: (A, C).
at::Tensor SendRows(const at::Tensor& x, const Route& r) { return x.index_select(0, r.token_of); }

// Results (A, C) in sorted-assignment order -> weighted sum per token (N, C).
at::Tensor Combine(const at::Tensor& back, const Route& r, int64_t n_tokens) {
  auto weighted = back * r.weight.unsqueeze(1).to(back.scalar_type());
  return at::zeros({n_tokens, back.size(1)}, back.options()).index_add(0, r.token_of, weighted);
}

at::Tensor RunLocal(const at::Tensor& arrived, const Route& r, const LocalExpertsFn& experts) {
  auto grouped = arrived.index_select(0, r.regroup);  // expert-major
  auto out = experts(grouped, r.local_counts);
  return out.index_select(0, r.ungroup);  // back to source-major
}

}  // namespace

std::string ExpertParallelLayoutError(int64_t num_experts, int64_t ep) {
  if (ep <= 1 || num_experts % ep == 0) return "";
  std::ostringstream os, fix;
  os << "num_experts " << num_experts << " is not divisible by parallel.ep " << ep;
  fix << "set parallel.ep to a divisor of " << num_experts << " that divides dp_shard x sp";
  return ErrorWithFix(os.str(), fix.str());
}

at::Tensor ExpertParallelCompute(const at::Tensor& x, const at::Tensor& topk_ids, const at::Tensor& topk_weights,
                                 int64_t num_experts, const comm::CommunicatorPtr& ep,
                                 const LocalExpertsFn& local_experts, const ExpertParallelOptions& options) {
  if (auto err = ExpertParallelLayoutError(num_experts, ep->size()); !err.empty()) throw ConfigError(err);
  const int64_t n = x.size(0);
  if (options.chunks <= 1) {
    const Route r = MakeRoute(topk_ids, topk_weights, num_experts, *ep);
    auto arrived = comm::AllToAllRegion(SendRows(x, r), ep, r.recv_splits, r.send_splits);
    auto back = comm::AllToAllRegion(RunLocal(arrived, r, local_experts), ep, r.send_splits, r.recv_splits);
    return Combine(back, r, n);
  }
  // Overlapped: every rank uses the same number of chunks (some may be empty).
  const int64_t chunks = options.chunks;
  const int64_t per = (n + chunks - 1) / chunks;
  std::vector<int64_t> begin(chunks), size(chunks);
  std::vector<Route> routes;
  for (int64_t c = 0; c < chunks; ++c) {
    begin[c] = std::min(n, c * per);
    size[c] = std::min(n, begin[c] + per) - begin[c];
    routes.push_back(MakeRoute(topk_ids.narrow(0, begin[c], size[c]), topk_weights.narrow(0, begin[c], size[c]),
                               num_experts, *ep));
  }
  std::vector<comm::PendingAllToAll> dispatch(chunks), combine(chunks);
  std::vector<at::Tensor> arrived(chunks), back(chunks);
  const auto start_dispatch = [&](int64_t c) {
    const Route& r = routes[c];
    arrived[c] = comm::StartAllToAll(SendRows(x.narrow(0, begin[c], size[c]), r), ep, &dispatch[c], r.recv_splits,
                                     r.send_splits);
  };
  start_dispatch(0);
  for (int64_t c = 0; c < chunks; ++c) {
    dispatch[c].Wait();
    if (c + 1 < chunks) start_dispatch(c + 1);  // flies while chunk c computes
    const Route& r = routes[c];
    back[c] = comm::StartAllToAll(RunLocal(arrived[c], r, local_experts), ep, &combine[c], r.send_splits,
                                  r.recv_splits);
  }
  std::vector<at::Tensor> outs;
  for (int64_t c = 0; c < chunks; ++c) {
    combine[c].Wait();
    outs.push_back(Combine(back[c], routes[c], size[c]));
  }
  return at::cat(outs, 0);
}

}  // namespace loom::parallel
