#include "sdk/train/train_device.h"

#include <cstdlib>

#include <torch/cuda.h>

#include "models/omni/omni_config.h"
#include "ops/base/error.h"

namespace loom::train {

at::Device TrainDevice(const config::LoomConfig& cfg, int64_t world_size, const models::TrainableModel& model) {
  const std::string& d = cfg.train.device;
  if (d == "cpu") return at::kCPU;
  if (d != "cuda") throw ConfigError(ErrorWithFix("train.device '" + d + "' is not a device", "use cpu or cuda"));
  if (!torch::cuda::is_available()) {
    throw ConfigError(ErrorWithFix("train.device cuda: no CUDA device is visible (torch::cuda::is_available() is false"
                                   " with this LibTorch)",
                                   "run on a GPU machine with a CUDA build (make build-cuda), or set train.device cpu"));
  }
  if (world_size > 1) {
    throw ConfigError(ErrorWithFix("train.device cuda with " + std::to_string(world_size) +
                                       " ranks: multi-rank GPU training (FSDP on the GPU over NCCL) is not built yet",
                                   "train on one GPU (one process), or set train.device cpu"));
  }
  if (models::IsOmniModelType(model.family())) {
    throw ConfigError(ErrorWithFix("train.device cuda for " + model.family() +
                                       ": omni models (encoders, media) on the GPU are not built yet",
                                   "train a decoder LLM on the GPU, or set train.device cpu"));
  }
  const char* local_rank = std::getenv("LOCAL_RANK");
  return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(local_rank ? std::atoi(local_rank) : 0));
}

data::PackedBatch BatchOn(data::PackedBatch b, at::Device device) {
  if (device.is_cpu()) return b;
  for (at::Tensor* t : {&b.input_ids, &b.labels, &b.position_ids, &b.doc_ids, &b.loss_groups}) {
    if (t->defined()) *t = t->to(device, /*non_blocking=*/true);
  }
  return b;
}

}  // namespace loom::train
