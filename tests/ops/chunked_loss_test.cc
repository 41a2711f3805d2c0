// ChunkedCrossEntropySum's per-group sums: each group's sum equals the loss
// of its labels alone, the sums add up to the total, and the gradient is
// the plain loss's (the groups only report).
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "ops/loss/chunked_cross_entropy.h"

namespace loom::ops {
namespace {

TEST(ChunkedCrossEntropyTest, GroupSumsSplitTheLossByGroup) {
  torch::manual_seed(11);
  const int64_t n = 29, c = 8, v = 13;
  auto hidden = torch::randn({n, c}, torch::requires_grad());
  auto weight = torch::randn({v, c}, torch::requires_grad());
  auto labels = torch::randint(0, v, {n}, torch::kLong);
  labels.index_put_({torch::arange(0, n, 5)}, kIgnoreLabel);
  auto groups = torch::randint(0, 3, {n}, torch::kLong);
  groups[3] = -1;  // padding's group: ignored with its label
  labels[3] = kIgnoreLabel;
  at::Tensor sums = at::zeros({3});
  auto total = ChunkedCrossEntropySum(hidden, weight, labels, /*chunk=*/4, groups, &sums);
  ASSERT_EQ(sums.size(0), 3);
  EXPECT_NEAR(sums.sum().item<double>(), total.item<double>(), 1e-4);
  for (int64_t g = 0; g < 3; ++g) {
    auto only = labels.masked_fill(groups != g, kIgnoreLabel);
    const double alone = ChunkedCrossEntropySum(hidden, weight, only, 7).item<double>();
    EXPECT_NEAR(sums[g].item<double>(), alone, 1e-4) << "group " << g;
    EXPECT_GT(alone, 0.5) << "every group holds labels";
  }
  auto grads = torch::autograd::grad({total}, {hidden, weight});
  auto plain = ChunkedCrossEntropySum(hidden, weight, labels, 4);
  auto want = torch::autograd::grad({plain}, {hidden, weight});
  EXPECT_TRUE(at::allclose(grads[0], want[0]) && at::allclose(grads[1], want[1]));
  EXPECT_FALSE(sums.requires_grad());
}

}  // namespace
}  // namespace loom::ops
