// One optimizer step over a list of micro-batches (gradient accumulation).
//
// The loss of a step is SUM(token losses over every micro-batch) divided by
// the number of label tokens in the whole step (`global_label_tokens`, which
// a data-parallel caller sets to the count across ranks), so accumulation and
// any parallel layout give the same loss and gradients as one big batch.
//
// MoE models add AuxLossCoef() x the mean over the step's micro-batches of
// each micro-batch's load-balancing aux loss (HF's load_balancing_loss_func
// over that micro-batch's non-padding tokens, summed over ranks by the
// router stats' reduce hook; its gradient rides on the LossSum backward, see
// models/llm/router_stats.h). The aux loss is per micro-batch: equal to one
// process when the micro-batching is the same; the mean keeps its weight
// independent of gradient accumulation (as dividing HF's per-micro-batch
// loss by the accumulation steps does).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <torch/optim/optimizer.h>

#include "models/core/trainable_model.h"
#include "models/llm/router_stats.h"
#include "parallel/fsdp/component_fsdp.h"
#include "parallel/fsdp/fsdp.h"
#include "sdk/data/batch.h"

namespace loom::train {

struct StepOptions {
  double grad_clip = 1.0;        // global-norm clip; 0 = off (norm still reported)
  int64_t loss_chunk_size = 1024;
  bool bf16 = false;             // autocast to bf16 on `device` for compute; fp32 master weights
  // Where the model computes and the micro-batches live (the caller moves
  // them): autocast's device type; host-side sums read back from it.
  at::Device device = at::kCPU;
  int64_t global_label_tokens = -1;  // -1: count the label tokens of `micro`
  // Sequence parallelism for models that slice themselves
  // (TrainableModel::SlicesSequenceItself): this rank's shard, passed to
  // every forward; the micro-batches hold whole rows with sliced labels
  // (SliceForModel, sdk/train/sequence_slice.h).
  models::SequenceShard sequence{};
  // Data-parallel hooks (defaults: one process). Sum values over the data
  // ranks in place, all in one collective (label counts; the loss sum with
  // every loss group's sum and count); finish gradients (e.g. HSDP replica
  // all-reduce) and clip them, returning the global norm before clipping.
  std::function<void(std::vector<double>& values)> sum_over_data_ranks;
  std::function<void()> finish_gradients;
  std::function<double(double max_norm)> clip_grad_norm;
  // MoE: sums the router statistics of a micro-batch's forward over the
  // ranks holding distinct tokens, before its backward (the loss boundary;
  // the model never communicates).
  std::function<void(models::RouterStats*)> reduce_router_stats;
};

struct StepStats {
  double loss = 0;         // mean token loss of the step
  double grad_norm = 0;    // global gradient norm before clipping
  int64_t label_tokens = 0;
  int64_t tokens = 0;      // non-padding input tokens this rank computed (its SP shard)
  // The loss by term, summing to `loss`: "text" (mean token loss over the
  // step's label tokens), and "router_aux" (coef x aux loss, MoE models).
  // A component that adds a loss of its own (an image decoder) adds its term.
  std::vector<std::pair<std::string, double>> loss_terms;
  // Conversations (batches with loss_groups): the mean token loss over the
  // labels of each modality mix (text-only, image, audio, image+audio
  // conversations) with its global label count; groups without labels left out.
  struct GroupLoss {
    std::string group;
    double mean = 0;
    int64_t labels = 0;
  };
  std::vector<GroupLoss> loss_by_group;
  // MoE models only (empty / 0 otherwise):
  double aux_loss = 0;     // unweighted aux loss, mean over micro-batches (loss includes coef x this)
  std::vector<std::vector<int64_t>> expert_tokens;  // [sparse layer][expert] assignments, summed over micro-batches
};

// Fills the data-parallel hooks of `options` for an FSDP/HSDP model:
// label counts and loss sums over `tokens` (every rank that holds distinct
// tokens: the data ranks, times the SP ranks when sequences are split), HSDP
// gradient finish, sharded clipping, router statistics summed over `tokens`.
// `fsdp` must outlive the options.
void UseFsdp(StepOptions* options, parallel::FsdpModel* fsdp, const comm::CommunicatorPtr& tokens);
// The same for a model with a plan per component (one FsdpModel each).
void UseFsdp(StepOptions* options, parallel::ComponentFsdp* fsdp, const comm::CommunicatorPtr& tokens);

int64_t CountLabelTokens(const std::vector<data::PackedBatch>& micro);

// Forward + backward over every micro-batch, clip, optimizer step.
StepStats TrainStep(models::TrainableModel& model, torch::optim::Optimizer& optimizer,
                    const std::vector<data::PackedBatch>& micro, const StepOptions& options);

// Mean token loss without gradients (evaluation).
double EvalLoss(models::TrainableModel& model, const std::vector<data::PackedBatch>& batches,
                const StepOptions& options);

// `sequence`: the SP shard for a model that slices itself (StepOptions::sequence).
models::ModelInputs InputsOf(const data::PackedBatch& batch, models::SequenceShard sequence = {});

}  // namespace loom::train
