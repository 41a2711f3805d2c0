// FusedAdamW (train.fused_adamw) against torch::optim::AdamW: the same
// parameters and moments after 6 steps with weight decay on one group and
// not the other, a parameter without a gradient in some steps (skipped, its
// step count behind), a learning-rate change mid-way; amsgrad refused.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "ops/base/error.h"
#include "sdk/train/fused_adamw.h"
#include "sdk/train/optimizer.h"

namespace loom::train {
namespace {

std::vector<at::Tensor> Params(uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return {at::randn({37, 19}, g).requires_grad_(), at::randn({5, 3, 7}, g).requires_grad_(),
          at::randn({19}, g).requires_grad_(), at::randn({11}, g).requires_grad_()};
}

TEST(FusedAdamWTest, StepsEqualTorchAdamW) {
  config::TrainConfig c;
  c.lr = 3e-2, c.weight_decay = 0.1, c.beta1 = 0.8, c.beta2 = 0.95, c.eps = 1e-6;
  auto plain_params = Params(1), fused_params = Params(1);
  auto plain = BuildAdamW(plain_params, c);
  c.fused_adamw = true;
  auto fused = BuildAdamW(fused_params, c);
  ASSERT_NE(dynamic_cast<FusedAdamW*>(fused.get()), nullptr);
  auto g = at::make_generator<at::CPUGeneratorImpl>(2);
  for (int step = 0; step < 6; ++step) {
    if (step == 3) SetLearningRate(*plain, 1e-2), SetLearningRate(*fused, 1e-2);
    for (size_t i = 0; i < plain_params.size(); ++i) {
      const bool skipped = i == 3 && step % 2 == 1;  // no gradient this step
      const auto grad = at::randn(plain_params[i].sizes(), g);
      plain_params[i].mutable_grad() = skipped ? at::Tensor() : grad.clone();
      fused_params[i].mutable_grad() = skipped ? at::Tensor() : grad.clone();
    }
    plain->step();
    fused->step();
  }
  for (size_t i = 0; i < plain_params.size(); ++i) {
    const auto moved = (plain_params[i] - Params(1)[i]).abs().max().item<double>();
    EXPECT_GT(moved, 1e-2) << "parameter " << i << " did not move";
    EXPECT_LE((fused_params[i] - plain_params[i]).abs().max().item<double>(), 1e-6 * moved) << "parameter " << i;
    const auto& ps = static_cast<torch::optim::AdamWParamState&>(*plain->state().at(plain_params[i].unsafeGetTensorImpl()));
    const auto& fs = static_cast<torch::optim::AdamWParamState&>(*fused->state().at(fused_params[i].unsafeGetTensorImpl()));
    EXPECT_EQ(fs.step(), ps.step());
    EXPECT_EQ(fs.step(), i == 3 ? 3 : 6);
    EXPECT_LE((fs.exp_avg_sq() - ps.exp_avg_sq()).abs().max().item<double>(), 1e-6 * ps.exp_avg_sq().abs().max().item<double>());
  }
}

TEST(FusedAdamWTest, AmsgradIsRefused) {
  auto params = Params(3);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(params, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(1e-3).amsgrad(true)));
  EXPECT_THROW(FusedAdamW(groups, torch::optim::AdamWOptions(1e-3)), ConfigError);
}

}  // namespace
}  // namespace loom::train
