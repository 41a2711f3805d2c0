// Expert-parallel dispatch against one process: outputs, token gradients and
// expert-weight gradients, plain and overlapped, with skewed routing (experts
// and whole ranks receiving no tokens, a rank with no tokens at all).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "parallel/expert/expert_parallel.h"
#include "tests/testing/multi_rank.h"

namespace loom {
namespace {

constexpr int64_t kExperts = 8, kTopK = 2, kDim = 6;

struct Case {
  const char* name;
  int ep;
  int64_t chunks;
  bool skewed;  // most tokens to expert 0; rank ep-1 has no tokens
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// Tokens of rank r: (N_r, C) and routing.
struct Tokens {
  at::Tensor x, ids, weights;
};

Tokens TokensOf(int rank, int ep, bool skewed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(40 + rank);
  const int64_t n = skewed && rank == ep - 1 ? 0 : 5 + 3 * rank;
  Tokens t;
  t.x = at::randn({n, kDim}, g);
  t.ids = at::randint(kExperts, {n, kTopK}, g);
  if (skewed) {  // slot 0 always expert 0, slot 1 in {1, 2}: experts 3..7 idle
    t.ids.select(1, 0).fill_(0);
    t.ids.select(1, 1).copy_(1 + at::randint(2, {n}, g));
  } else {
    t.ids.select(1, 1).copy_((t.ids.select(1, 0) + 1 + at::randint(kExperts - 1, {n}, g)) % kExperts);
  }
  t.weights = at::rand({n, kTopK}, g);
  return t;
}

// Expert e: rows @ W[e] (C, C), W (E, C, C).
at::Tensor Experts(const at::Tensor& rows, const std::vector<int64_t>& counts, const at::Tensor& w) {
  std::vector<at::Tensor> outs;
  int64_t at_row = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    outs.push_back(at::matmul(rows.narrow(0, at_row, counts[e]), w[static_cast<int64_t>(e)]));
    at_row += counts[e];
  }
  return at::cat(outs, 0);
}

at::Tensor Reference(const Tokens& t, const at::Tensor& w) {
  auto out = at::zeros_like(t.x);
  for (int64_t j = 0; j < kTopK; ++j) {
    auto per_token = at::bmm(t.x.unsqueeze(1), w.index_select(0, t.ids.select(1, j))).squeeze(1);
    out = out + per_token * t.weights.select(1, j).unsqueeze(1);
  }
  return out;
}

class ExpertParallelTest : public ::testing::TestWithParam<Case> {};

TEST_P(ExpertParallelTest, MatchesOneProcessWithGradients) {
  const Case c = GetParam();
  auto w_full = at::randn({kExperts, kDim, kDim}, at::make_generator<at::CPUGeneratorImpl>(7));
  // One process over every rank's tokens.
  auto w_ref = w_full.clone().requires_grad_();
  std::vector<at::Tensor> ref_out, ref_x;
  at::Tensor total;
  for (int r = 0; r < c.ep; ++r) {
    auto t = TokensOf(r, c.ep, c.skewed);
    t.x.requires_grad_();
    ref_x.push_back(t.x);
    ref_out.push_back(Reference(t, w_ref));
    auto s = (ref_out.back() * ref_out.back()).sum();
    total = total.defined() ? total + s : s;
  }
  total.backward();

  testing::RunOnRanks(c.ep, [&](const comm::CommunicatorPtr& ep) {
    const int r = ep->rank();
    const int64_t local = kExperts / c.ep;
    auto t = TokensOf(r, c.ep, c.skewed);
    t.x.requires_grad_();
    auto w = w_full.narrow(0, r * local, local).clone().requires_grad_();
    auto out = parallel::ExpertParallelCompute(
        t.x, t.ids, t.weights, kExperts, ep,
        [&](const at::Tensor& rows, const std::vector<int64_t>& counts) { return Experts(rows, counts, w); },
        {c.chunks});
    ASSERT_EQ(out.sizes(), t.x.sizes());
    (out * out).sum().backward();  // global loss = sum over ranks
    if (t.x.numel() > 0) {
      EXPECT_LE((out - ref_out[r].detach()).abs().max().item<double>(), 1e-5) << c.name << " rank " << r;
      EXPECT_LE((t.x.grad() - ref_x[r].grad()).abs().max().item<double>(), 1e-4) << c.name << " rank " << r;
    }
    ASSERT_TRUE(w.grad().defined()) << "experts without tokens still get a (zero) gradient";
    auto want = w_ref.grad().narrow(0, r * local, local);
    EXPECT_LE((w.grad() - want).abs().max().item<double>(), 1e-4 * std::max(1.0, want.abs().max().item<double>()))
        << c.name << " rank " << r;
  });
}

INSTANTIATE_TEST_SUITE_P(Cases, ExpertParallelTest,
                         ::testing::Values(Case{"ep2", 2, 1, false}, Case{"ep4", 4, 1, false},
                                           Case{"ep4_skewed", 4, 1, true}, Case{"ep2_overlapped3", 2, 3, false},
                                           Case{"ep4_overlapped2_skewed", 4, 2, true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ExpertParallelLayoutTest, ExpertsNotDivisibleByEpNameTheFix) {
  EXPECT_EQ(parallel::ExpertParallelLayoutError(8, 4), "");
  const auto err = parallel::ExpertParallelLayoutError(6, 4);
  EXPECT_NE(err.find("num_experts 6 is not divisible by parallel.ep 4"), std::string::npos) << err;
}

}  // namespace
}  // namespace loom
