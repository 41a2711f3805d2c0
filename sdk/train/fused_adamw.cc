#include "sdk/train/fused_adamw.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "ops/base/error.h"

namespace loom::train {

FusedAdamW::FusedAdamW(const std::vector<torch::optim::OptimizerParamGroup>& groups,
                       torch::optim::AdamWOptions defaults)
    : torch::optim::AdamW(groups, defaults) {
  for (const auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    if (o.amsgrad()) {
      throw ConfigError(ErrorWithFix("fused AdamW has no amsgrad", "set train.fused_adamw false"));
    }
    for (const auto& p : group.params()) {
      const auto& first = group.params().front();
      if (p.device() != first.device() || p.scalar_type() != first.scalar_type()) {
        throw ConfigError(ErrorWithFix("fused AdamW needs each parameter group on one device and dtype (" +
                                           first.device().str() + " " + c10::toString(first.scalar_type()) + " vs " +
                                           p.device().str() + " " + c10::toString(p.scalar_type()) + ")",
                                       "set train.fused_adamw false"));
      }
    }
  }
}

at::Tensor FusedAdamW::step(LossClosure closure) {
  at::Tensor loss;
  if (closure) {
    at::AutoGradMode enable(true);
    loss = closure();
  }
  torch::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, steps;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto it = state_.find(p.unsafeGetTensorImpl());
      if (it == state_.end()) {  // as AdamW: zero moments at the first step
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->step(0);
        s->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        s->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        it = state_.emplace(p.unsafeGetTensorImpl(), std::move(s)).first;
      }
      auto& s = static_cast<torch::optim::AdamWParamState&>(*it->second);
      s.step(s.step() + 1);
      params.push_back(p);
      grads.push_back(p.grad());
      exp_avgs.push_back(s.exp_avg());
      exp_avg_sqs.push_back(s.exp_avg_sq());
      // The kernel reads the (already incremented) step from a float tensor on the parameters' device.
      steps.push_back(at::full({}, static_cast<double>(s.step()), p.options().dtype(at::kFloat)));
    }
    if (params.empty()) continue;
    const auto [beta1, beta2] = o.betas();
    at::_fused_adamw_(params, grads, exp_avgs, exp_avg_sqs, /*max_exp_avg_sqs=*/{}, steps, o.lr(), beta1, beta2,
                      o.weight_decay(), o.eps(), /*amsgrad=*/false, /*maximize=*/false);
  }
  return loss;
}

}  // namespace loom::train
