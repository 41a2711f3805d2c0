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
#include "parallel/plan/plan.h"
#include "sdk/config/train_config.h"
#include "sdk/data/batch.h"

namespace loom::testing {

// AdamW with weight decay and a tight clip, so clipping is exercised.
config::TrainConfig ParityOptimizer();

// AdamW in its gradient-proportional regime (ParityOptimizer with eps 0.1
// far above |grad| and lr 0.3, so an update is lr / eps x the first
// moment): final parameters then check the gradients' magnitudes, not only
// their signs. With eps 1e-8 each update is about lr x sign(g): a wrong
// gradient scale would hardly show, while fp32 reduction noise on near-zero
// gradients flips signs (measured 2e-4 on a vision merger at 3 ranks, 8e-6
// for mere gradient accumulation in one process).
config::TrainConfig GradientProportionalOptimizer();

// b->labels: the next position's id where both positions are real tokens
// (doc_ids >= 0), else kIgnoreIndex.
void SetNextTokenLabels(data::PackedBatch* b);

// Row indices rank, rank + data_world, ... below `rows`.
std::vector<int> RowsOfRank(int data_rank, int data_world, int rows);

// A plan for component `name` of `model` (its module path), with the FSDP
// units of its spec and the mesh dp_replicate x dp_shard x sp (ep).
parallel::ComponentPlan ComponentPlanOf(const models::TrainableModel& model, const std::string& name,
                                        const std::string& family, int64_t dp_replicate, int64_t dp_shard,
                                        int64_t sp, int64_t ep);

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
