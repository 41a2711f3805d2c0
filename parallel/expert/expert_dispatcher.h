// The expert-parallel plan's pieces that plug into a MoE model without
// changing it: the all-to-all dispatcher (installed with
// TrainableModel::SetExpertDispatcher) and the router-statistics reduction
// the loss boundary runs to make the load-balancing loss global.
#pragma once

#include "models/llm/router_stats.h"
#include "ops/moe/expert_dispatcher.h"
#include "parallel/comm/communicator.h"
#include "parallel/expert/expert_parallel.h"

namespace loom::parallel {

// Owns experts [ep.rank() * E/ep, (ep.rank() + 1) * E/ep): the model's
// stacked expert weights hold exactly those (FsdpModel slices them).
class ExpertParallelDispatcher : public ops::ExpertDispatcher {
 public:
  ExpertParallelDispatcher(comm::CommunicatorPtr ep, ExpertParallelOptions options);
  at::Tensor Compute(const at::Tensor& x, const at::Tensor& topk_ids, const at::Tensor& topk_weights,
                     const ops::ExpertWeights& weights) override;

 private:
  comm::CommunicatorPtr ep_;
  ExpertParallelOptions options_;
};

// Sums the router totals of the last recorded forward over `tokens` (every
// rank that holds distinct tokens of the step) and completes `stats` with
// them, so the aux loss and its gradient equal one process's. Collective;
// called at the loss boundary between forward and backward (never from the
// model). No-op for a null `stats` (dense model) or one rank.
void SumRouterStatsOver(models::RouterStats* stats, const comm::CommunicatorPtr& tokens);

}  // namespace loom::parallel
