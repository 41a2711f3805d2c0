#include "parallel/expert/expert_dispatcher.h"

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "ops/moe/moe.h"

namespace loom::parallel {

ExpertParallelDispatcher::ExpertParallelDispatcher(comm::CommunicatorPtr ep, ExpertParallelOptions options)
    : ep_(std::move(ep)), options_(options) {}

at::Tensor ExpertParallelDispatcher::Compute(const at::Tensor& x, const at::Tensor& topk_ids,
                                             const at::Tensor& topk_weights, const ops::ExpertWeights& w) {
  const int64_t local = w.gate_proj.size(0);
  if (local * ep_->size() != w.num_experts) {
    throw Error("expert-parallel dispatcher: the model holds " + std::to_string(local) + " experts per rank but " +
                std::to_string(w.num_experts) + " experts over ep " + std::to_string(ep_->size()) +
                " need " + std::to_string(w.num_experts / ep_->size()) +
                " (shard the model with FsdpModel over groups with this ep)");
  }
  return ExpertParallelCompute(
      x, topk_ids, topk_weights, w.num_experts, ep_,
      [&w](const at::Tensor& rows, const std::vector<int64_t>& counts) {
        return ops::SwigluExperts(rows, w.gate_proj, w.up_proj, w.down_proj, counts);
      },
      options_);
}

void SumRouterStatsOver(models::RouterStats* stats, const comm::CommunicatorPtr& tokens) {
  if (!stats || !stats->has_aux() || !tokens || tokens->size() == 1) return;
  models::RouterTotals t;
  for (auto [dst, src] : {std::pair{&t.counts, &stats->totals().counts}, {&t.prob_sums, &stats->totals().prob_sums},
                          {&t.tokens, &stats->totals().tokens}}) {
    *dst = src->clone().contiguous();
    tokens->AllReduce(*dst)->Wait();
  }
  stats->CompleteWith(std::move(t));
}

}  // namespace loom::parallel
