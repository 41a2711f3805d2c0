// train.device: where a run computes. "cpu" (default), or "cuda": this
// process's GPU (cuda:LOCAL_RANK), for one-process runs of decoder LLMs
// (the model moved there after it is built, batches moved there by the
// trainer, bf16 autocast on CUDA, fused AdamW as configured). Multi-rank GPU
// training (FSDP on the GPU over NCCL) and omni models on the GPU are not
// built yet and are refused naming that.
#pragma once

#include <cstdint>

#include <c10/core/Device.h>

#include "models/core/trainable_model.h"
#include "sdk/config/load_config.h"
#include "sdk/data/batch.h"

namespace loom::train {

// ConfigError naming train.device and the fix for: cuda without a visible
// CUDA device (or a CPU LibTorch), cuda with several ranks, cuda for an omni model.
// The GPU is cuda:LOCAL_RANK (the launcher's environment; 0 without it).
at::Device TrainDevice(const config::LoomConfig& cfg, int64_t world_size, const models::TrainableModel& model);

// The batch's tensors on `device` (no copy when they are there already).
data::PackedBatch BatchOn(data::PackedBatch b, at::Device device);

}  // namespace loom::train
