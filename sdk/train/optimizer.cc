#include "sdk/train/optimizer.h"

#include <cmath>

#include "ops/base/error.h"
#include "sdk/train/fused_adamw.h"

namespace loom::train {

std::unique_ptr<torch::optim::AdamW> BuildAdamW(const std::vector<at::Tensor>& parameters,
                                                const config::TrainConfig& c) {
  std::vector<at::Tensor> decay, no_decay;
  for (const auto& p : parameters) (p.dim() >= 2 ? decay : no_decay).push_back(p);
  return BuildAdamW(decay, no_decay, c);
}

std::unique_ptr<torch::optim::AdamW> BuildAdamW(const std::vector<at::Tensor>& decay,
                                                const std::vector<at::Tensor>& no_decay,
                                                const config::TrainConfig& c) {
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(c.weight_decay));
  groups.emplace_back(no_decay, options(0.0));
  if (c.fused_adamw) return std::make_unique<FusedAdamW>(groups, torch::optim::AdamWOptions(c.lr));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(c.lr));
}

double LearningRate(const config::TrainConfig& c, int64_t step) {
  if (c.warmup_steps > 0 && step < c.warmup_steps) {
    return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  }
  const double min_lr = c.lr * c.min_lr_ratio;
  const double span = static_cast<double>(std::max<int64_t>(1, c.steps - c.warmup_steps));
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
  if (c.schedule == "constant") return c.lr;
  if (c.schedule == "linear") return c.lr - (c.lr - min_lr) * progress;
  if (c.schedule == "cosine") return min_lr + (c.lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * progress));
  throw ConfigError(ErrorWithFix("unknown schedule '" + c.schedule + "'",
                                 "set train.schedule to cosine, linear or constant"));
}

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

}  // namespace loom::train
