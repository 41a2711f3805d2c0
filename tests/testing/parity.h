// Shared pieces of the executor parity tests (a parallel layout against one
// process over the same steps): the optimizer settings, a data rank's rows,
// and the comparisons of per-step losses and final parameters.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/core/trainable_model.h"
#include "sdk/config/train_config.h"
#include "sdk/data/batch.h"

namespace loom::testing {

// AdamW with weight decay and a tight clip, so clipping is exercised.
config::TrainConfig ParityOptimizer();

// Rows rank, rank + data_world, ... of a global batch.
data::PackedBatch DataRows(const data::PackedBatch& batch, int rank, int data_world);

// What one process did: the loss and grad norm (before clipping) of every
// step and the final parameters.
struct Trajectory {
  std::vector<double> losses, norms;
  std::map<std::string, at::Tensor> params;
};

// The one-process control: `steps` AdamW steps of `model` (already
// initialised) with `optim`'s settings and clip, step s over batches(s).
Trajectory TrainOneProcess(models::TrainableModel& model, const config::TrainConfig& optim, int steps,
                           const std::function<std::vector<data::PackedBatch>(int step)>& batches);

// Every rank's per-step loss within `rel` of the reference, the reference
// learning, and every parameter within `tol` x max(1, |reference|).
void ExpectSameLosses(const std::vector<std::vector<double>>& rank_losses, const std::vector<double>& reference,
                      const std::string& what, double rel = 1e-5);
void ExpectSameParams(const std::map<std::string, at::Tensor>& params, const std::map<std::string, at::Tensor>& reference,
                      const std::string& what, double tol = 1e-5);

}  // namespace loom::testing
