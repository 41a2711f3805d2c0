// FusedAdamW: torch::optim::AdamW whose step runs LibTorch's fused kernel
// (at::_fused_adamw_, CPU and CUDA: one pass over each parameter group's
// tensors instead of ~10 ops per parameter), as PyTorch's
// AdamW(fused=True). Same update (decoupled weight decay, bias correction,
// eps after the square root), same state (AdamWParamState: step, exp_avg,
// exp_avg_sq), so checkpoints, lr schedules and state_dict code that know
// AdamW keep working; amsgrad is refused. Selected by train.fused_adamw.
#pragma once

#include <vector>

#include <torch/optim/adamw.h>

namespace loom::train {

class FusedAdamW : public torch::optim::AdamW {
 public:
  // ConfigError naming the fix for amsgrad or mixed devices / dtypes in a group.
  FusedAdamW(const std::vector<torch::optim::OptimizerParamGroup>& groups, torch::optim::AdamWOptions defaults);
  at::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace loom::train
