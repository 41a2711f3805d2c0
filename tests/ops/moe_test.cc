// ops/moe: permute/unpermute by expert and the grouped matmul against a naive
// per-token loop (experts with zero tokens included), on both the
// at::_grouped_mm path and the per-expert loop; every expert parameter gets
// a gradient (zero for experts without tokens).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "ops/moe/expert_dispatcher.h"
#include "ops/moe/moe.h"

namespace loom::ops {
namespace {

constexpr int64_t kTokens = 11, kTopK = 2, kExperts = 6, kHidden = 8, kInter = 12;

// Routing that never uses experts 2 and 5, and sends most slots to expert 0.
at::Tensor SkewedTopkIds() {
  std::vector<int64_t> ids;
  for (int64_t t = 0; t < kTokens; ++t) {
    ids.push_back(t % 4 == 3 ? 4 : 0);
    ids.push_back(t % 3 == 0 ? 1 : 3);
  }
  return at::tensor(ids, at::kLong).view({kTokens, kTopK});
}

// out[t] = sum_s w[t, s] * down_e(silu(gate_e x) * up_e x), one token at a time.
at::Tensor NaiveMoe(const at::Tensor& x, const at::Tensor& ids, const at::Tensor& w, const ExpertWeights& ew) {
  std::vector<at::Tensor> rows;
  for (int64_t t = 0; t < x.size(0); ++t) {
    auto acc = at::zeros({x.size(1)}, x.options());
    for (int64_t s = 0; s < ids.size(1); ++s) {
      const int64_t e = ids[t][s].item<int64_t>();
      auto h = at::silu(at::mv(ew.gate_proj[e], x[t])) * at::mv(ew.up_proj[e], x[t]);
      acc = acc + w[t][s] * at::mv(ew.down_proj[e], h);
    }
    rows.push_back(acc);
  }
  return at::stack(rows);
}

ExpertWeights RandomExperts(uint64_t seed, bool requires_grad) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  ExpertWeights w;
  w.gate_proj = at::randn({kExperts, kInter, kHidden}, g).mul_(0.3).requires_grad_(requires_grad);
  w.up_proj = at::randn({kExperts, kInter, kHidden}, g).mul_(0.3).requires_grad_(requires_grad);
  w.down_proj = at::randn({kExperts, kHidden, kInter}, g).mul_(0.3).requires_grad_(requires_grad);
  w.num_experts = kExperts;
  return w;
}

TEST(MoeOpsTest, PermuteSortsByExpertStablyAndCountsEveryExpert) {
  auto ids = SkewedTopkIds();
  auto perm = PermuteByExpert(ids, kExperts);
  ASSERT_EQ(perm.counts_host.size(), static_cast<size_t>(kExperts));
  EXPECT_EQ(perm.counts_host[2], 0);
  EXPECT_EQ(perm.counts_host[5], 0);
  int64_t total = 0;
  for (int64_t c : perm.counts_host) total += c;
  EXPECT_EQ(total, kTokens * kTopK);
  // Sorted by expert; within an expert, token order kept.
  auto sorted_experts = ids.reshape({-1}).index_select(0, perm.order);
  for (int64_t r = 1; r < sorted_experts.size(0); ++r) {
    const int64_t a = sorted_experts[r - 1].item<int64_t>(), b = sorted_experts[r].item<int64_t>();
    ASSERT_LE(a, b);
    if (a == b) {
      ASSERT_LT(perm.token_of_row[r - 1].item<int64_t>(), perm.token_of_row[r].item<int64_t>());
    }
  }
  // Permute then unpermute with unit weights sums each token k times.
  auto x = at::randn({kTokens, kHidden});
  auto back = UnpermuteTokens(PermuteTokens(x, perm), at::ones({kTokens, kTopK}), perm, kTokens);
  EXPECT_TRUE(at::allclose(back, x * kTopK, 1e-6, 1e-6));
}

class GroupedPathTest : public ::testing::TestWithParam<bool> {};

TEST_P(GroupedPathTest, DispatcherMatchesNaivePerTokenLoopAndEveryExpertGetsAGradient) {
  const bool grouped = GetParam();
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  auto x = at::randn({kTokens, kHidden}, g).requires_grad_(true);
  auto ids = SkewedTopkIds();
  auto w = at::softmax(at::randn({kTokens, kTopK}, g), -1).requires_grad_(true);
  auto ew = RandomExperts(4, true);
  LocalExpertDispatcher dispatcher(/*allow_grouped_mm=*/grouped);
  auto out = dispatcher.Compute(x, ids, w, ew);

  auto x2 = x.detach().clone().requires_grad_(true);
  auto w2 = w.detach().clone().requires_grad_(true);
  auto ew2 = RandomExperts(4, true);
  auto want = NaiveMoe(x2, ids, w2, ew2);
  EXPECT_LE((out - want).abs().max().item<double>(), 1e-5);

  auto upstream = at::randn({kTokens, kHidden}, g);
  (out * upstream).sum().backward();
  (want * upstream).sum().backward();
  EXPECT_LE((x.grad() - x2.grad()).abs().max().item<double>(), 1e-5);
  EXPECT_LE((w.grad() - w2.grad()).abs().max().item<double>(), 1e-5);
  for (auto [got, ref] : {std::pair{ew.gate_proj, ew2.gate_proj}, {ew.up_proj, ew2.up_proj},
                          {ew.down_proj, ew2.down_proj}}) {
    ASSERT_TRUE(got.grad().defined()) << "every stacked expert parameter must get a gradient";
    // The naive loop never touches experts 2 and 5: autograd gives them zeros too.
    EXPECT_LE((got.grad() - ref.grad()).abs().max().item<double>(), 1e-5);
    EXPECT_EQ(got.grad()[2].abs().max().item<double>(), 0.0);
    EXPECT_EQ(got.grad()[5].abs().max().item<double>(), 0.0);
    EXPECT_GT(got.grad()[0].abs().max().item<double>(), 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, GroupedPathTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "GroupedMm" : "PerExpertLoop"; });

TEST(MoeOpsTest, GroupedLinearFallsBackWhenRowsAreNotAligned) {
  // in = 6 floats = 24 bytes: _grouped_mm's 16-byte stride rule fails, the loop runs.
  auto x = at::randn({7, 6});
  auto w = at::randn({3, 5, 6});
  std::vector<int64_t> counts = {4, 0, 3};
  auto y = GroupedLinear(x, w, counts);
  auto want = at::cat({at::matmul(x.slice(0, 0, 4), w[0].t()), at::matmul(x.slice(0, 4, 7), w[2].t())});
  EXPECT_TRUE(at::allclose(y, want, 1e-5, 1e-5));
}

TEST(MoeOpsTest, NoTokensAtAllStillLinksEveryExpert) {
  auto ew = RandomExperts(5, true);
  auto x = at::zeros({0, kHidden}).requires_grad_(true);
  LocalExpertDispatcher dispatcher;
  auto out = dispatcher.Compute(x, at::zeros({0, kTopK}, at::kLong), at::zeros({0, kTopK}), ew);
  EXPECT_EQ(out.size(0), 0);
  out.sum().backward();
  ASSERT_TRUE(ew.gate_proj.grad().defined());
  EXPECT_EQ(ew.down_proj.grad().abs().max().item<double>(), 0.0);
}

}  // namespace
}  // namespace loom::ops
