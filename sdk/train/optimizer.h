// AdamW and the learning-rate schedule.
//
// AdamW is LibTorch's torch::optim::AdamW (decoupled weight decay, fp32
// state, same update as Python's). Parameters with dim >= 2 (matrices,
// embeddings) get weight decay; norms and biases do not. With
// train.fused_adamw, the same update through LibTorch's fused kernel
// (FusedAdamW, a torch::optim::AdamW).
#pragma once

#include <memory>
#include <vector>

#include <torch/optim/adamw.h>

#include "sdk/config/train_config.h"

namespace loom::train {

std::unique_ptr<torch::optim::AdamW> BuildAdamW(const std::vector<at::Tensor>& parameters,
                                                const config::TrainConfig& c);
// With the groups given explicitly (e.g. FSDP's flat shards).
std::unique_ptr<torch::optim::AdamW> BuildAdamW(const std::vector<at::Tensor>& decay,
                                                const std::vector<at::Tensor>& no_decay,
                                                const config::TrainConfig& c);

// Learning rate for 0-based `step`: linear warmup over warmup_steps to lr, then
// cosine / linear decay to lr * min_lr_ratio at `steps`, or constant.
double LearningRate(const config::TrainConfig& c, int64_t step);

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace loom::train
