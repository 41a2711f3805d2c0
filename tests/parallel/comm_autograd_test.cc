// Each differentiable collective against its single-process equivalent.
//
// Setup shared by every case: rank r holds x_r (deterministic from a seed) and
// a weight w_r; its local loss is sum(w_r * f(x)_r) where f is the collective.
// The global loss is the sum over ranks. A single process builds all x_r,
// computes the same global loss with plain tensor ops, and its gradients are
// the reference for each rank's x_r.grad.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "parallel/comm/autograd.h"
#include "tests/testing/multi_rank.h"

namespace loom {
namespace {

using comm::CommunicatorPtr;
using testing::RunOnRanks;

at::Tensor Input(int rank, std::vector<int64_t> shape) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(1000 + rank);
  return at::randn(shape, g, at::kDouble);
}

void ExpectClose(const at::Tensor& got, const at::Tensor& want, const char* what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(at::allclose(got, want, 1e-12, 1e-12)) << what << "\n" << got << "\n" << want;
}

class AutogradCommTest : public ::testing::TestWithParam<int> {};

TEST_P(AutogradCommTest, GatherFromShardedRegionBackwardIsReduceScatter) {
  const int w = GetParam();
  // Reference: y = cat(x_0..x_{w-1}); loss = sum_r sum(W_r * y).
  std::vector<at::Tensor> xs, ws;
  for (int r = 0; r < w; ++r) {
    xs.push_back(Input(r, {2, 3}).requires_grad_());
    ws.push_back(Input(100 + r, {2 * w, 3}));
  }
  auto y = at::cat(xs);
  at::Tensor loss = at::zeros({}, at::kDouble);
  for (int r = 0; r < w; ++r) loss = loss + (ws[r] * y).sum();
  loss.backward();
  RunOnRanks(w, [&](const CommunicatorPtr& c) {
    auto x = Input(c->rank(), {2, 3}).requires_grad_();
    auto out = comm::GatherFromShardedRegion(x, c);
    ExpectClose(out, y.detach(), "forward");
    (ws[c->rank()] * out).sum().backward();
    ExpectClose(x.grad(), xs[c->rank()].grad(), "grad");
  });
}

TEST_P(AutogradCommTest, ReduceScatterToShardedRegionBackwardIsAllGather) {
  const int w = GetParam();
  // Reference: s = sum_r x_r (each (2w,3)); rank r keeps rows [2r, 2r+2).
  std::vector<at::Tensor> xs, ws;
  for (int r = 0; r < w; ++r) {
    xs.push_back(Input(r, {2 * w, 3}).requires_grad_());
    ws.push_back(Input(100 + r, {2, 3}));
  }
  auto s = at::stack(xs).sum(0);
  at::Tensor loss = at::zeros({}, at::kDouble);
  for (int r = 0; r < w; ++r) loss = loss + (ws[r] * s.slice(0, 2 * r, 2 * r + 2)).sum();
  loss.backward();
  RunOnRanks(w, [&](const CommunicatorPtr& c) {
    const int r = c->rank();
    auto x = Input(r, {2 * w, 3}).requires_grad_();
    auto out = comm::ReduceScatterToShardedRegion(x, c);
    ExpectClose(out, s.detach().slice(0, 2 * r, 2 * r + 2), "forward");
    (ws[r] * out).sum().backward();
    ExpectClose(x.grad(), xs[r].grad(), "grad");
  });
}

TEST_P(AutogradCommTest, AllToAllRegionBackwardIsInverseAllToAll) {
  const int w = GetParam();
  auto rows = [](int from, int to) { return static_cast<int64_t>((2 * from + to) % 3); };
  auto total = [&](int r, bool sending) {
    int64_t n = 0;
    for (int q = 0; q < w; ++q) n += sending ? rows(r, q) : rows(q, r);
    return n;
  };
  // Reference: rank r's output = cat_q (rows of x_q destined to r).
  std::vector<at::Tensor> xs, ws, outs;
  for (int r = 0; r < w; ++r) {
    xs.push_back(Input(r, {total(r, true), 2}).requires_grad_());
    ws.push_back(Input(100 + r, {total(r, false), 2}));
  }
  at::Tensor loss = at::zeros({}, at::kDouble);
  for (int r = 0; r < w; ++r) {
    std::vector<at::Tensor> pieces;
    for (int q = 0; q < w; ++q) {
      int64_t off = 0;
      for (int k = 0; k < r; ++k) off += rows(q, k);
      pieces.push_back(xs[q].slice(0, off, off + rows(q, r)));
    }
    outs.push_back(at::cat(pieces));
    loss = loss + (ws[r] * outs.back()).sum();
  }
  loss.backward();
  RunOnRanks(w, [&](const CommunicatorPtr& c) {
    const int r = c->rank();
    std::vector<int64_t> in_splits, out_splits;
    for (int q = 0; q < w; ++q) in_splits.push_back(rows(r, q)), out_splits.push_back(rows(q, r));
    auto x = Input(r, {total(r, true), 2}).requires_grad_();
    auto out = comm::AllToAllRegion(x, c, out_splits, in_splits);
    ExpectClose(out, outs[r].detach(), "forward");
    (ws[r] * out).sum().backward();
    ExpectClose(x.grad(), xs[r].grad(), "grad");
  });
}

TEST_P(AutogradCommTest, AllToAllScatterGatherIsUlyssesSeqToHeads) {
  const int w = GetParam();
  const int64_t B = 2, T = 3 * w, H = 2 * w, D = 4;
  // Full tensor q (B, T, H, D); rank r holds the sequence slice r -> gets head slice r.
  std::vector<at::Tensor> xs, ws;
  for (int r = 0; r < w; ++r) {
    xs.push_back(Input(r, {B, T / w, H, D}).requires_grad_());
    ws.push_back(Input(100 + r, {B, T, H / w, D}));
  }
  auto full = at::cat(xs, 1);
  at::Tensor loss = at::zeros({}, at::kDouble);
  for (int r = 0; r < w; ++r) {
    loss = loss + (ws[r] * full.slice(2, r * (H / w), (r + 1) * (H / w))).sum();
  }
  loss.backward();
  RunOnRanks(w, [&](const CommunicatorPtr& c) {
    const int r = c->rank();
    auto x = Input(r, {B, T / w, H, D}).requires_grad_();
    auto heads = comm::AllToAllScatterGather(x, c, /*scatter_dim=*/2, /*gather_dim=*/1);
    ExpectClose(heads, full.detach().slice(2, r * (H / w), (r + 1) * (H / w)), "forward");
    // And back: heads -> sequence is the exact inverse.
    auto back = comm::AllToAllScatterGather(heads, c, 1, 2);
    ExpectClose(back, x.detach(), "round trip");
    (ws[r] * heads).sum().backward();
    ExpectClose(x.grad(), xs[r].grad(), "grad");
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, AutogradCommTest, ::testing::Values(2, 3, 4),
                         [](const auto& info) { return "w" + std::to_string(info.param); });

}  // namespace
}  // namespace loom
