// MoE layer time under expert parallelism, plain vs overlapped dispatch (run
// by moe_dispatch_bench.sh under `loom launch --nproc P`; ep = P).
// Routing is real and unbalanced: a softmax router (random gate plus a
// Zipf-like bias, so a few experts take most tokens) picks the top-2 of 8
// experts per token; every rank routes its own tokens. Prints, per rank, the
// median fwd+bwd ms of the layer for chunks = 1 (plain) and the overlapped
// chunk counts, and the tokens each expert received.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "ops/moe/moe.h"
#include "parallel/expert/expert_parallel.h"
#include "sdk/runtime/world.h"

namespace {

constexpr int64_t kExperts = 8, kTopK = 2, kHidden = 256, kInter = 512;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t tokens = argc > 1 ? std::stoll(argv[1]) : 4096;
  const int iters = argc > 2 ? std::stoi(argv[2]) : 5;
  at::set_num_threads(1);  // ranks share this machine's cores
  const auto info = loom::runtime::WorldInfoFromEnv();
  auto ep = loom::runtime::JoinWorld(info, {});
  const int p = ep->size(), rank = ep->rank();
  const int64_t local = kExperts / p;
  auto g = at::make_generator<at::CPUGeneratorImpl>(100 + rank);
  auto x = at::randn({tokens, kHidden}, g).requires_grad_();
  // Router: random gate + bias -log(e + 1): expert 0 hottest, expert 7 coldest.
  auto gate = at::randn({kHidden, kExperts}, at::make_generator<at::CPUGeneratorImpl>(5)) * 0.08;
  auto bias = -1.0 * at::log(at::arange(1, kExperts + 1, at::kFloat));
  auto probs = at::softmax(at::matmul(x.detach(), gate) + bias, -1);
  auto [weights, ids] = probs.topk(kTopK, -1);
  weights = weights / weights.sum(-1, true);
  auto wg = (at::randn({local, kInter, kHidden}, g) * 0.02).requires_grad_();
  auto wu = (at::randn({local, kInter, kHidden}, g) * 0.02).requires_grad_();
  auto wd = (at::randn({local, kHidden, kInter}, g) * 0.02).requires_grad_();
  const auto experts = [&](const at::Tensor& rows, const std::vector<int64_t>& counts) {
    return loom::ops::SwigluExperts(rows, wg, wu, wd, counts);
  };
  const std::vector<int64_t> modes = {1, 2, 4};
  std::vector<std::vector<double>> times(modes.size());
  for (int it = 0; it < iters + 1; ++it) {  // interleaved; round 0 is warm-up
    for (size_t m = 0; m < modes.size(); ++m) {
      ep->Barrier()->Wait();
      const auto t0 = std::chrono::steady_clock::now();
      auto out = loom::parallel::ExpertParallelCompute(x, ids, weights, kExperts, ep, experts, {modes[m]});
      out.pow(2).sum().backward();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (it > 0) times[m].push_back(ms);
    }
  }
  auto counts = at::bincount(ids.reshape({-1}), {}, kExperts).to(at::kLong);
  ep->AllReduce(counts)->Wait();
  std::printf("rank %d ep %d tokens %lld plain_ms %.2f overlap2_ms %.2f overlap4_ms %.2f expert_tokens", rank, p,
              static_cast<long long>(tokens), Median(times[0]), Median(times[1]), Median(times[2]));
  for (int64_t e = 0; e < kExperts; ++e) std::printf(" %lld", static_cast<long long>(counts[e].item<int64_t>()));
  std::printf("\n");
  return 0;
}
