#include "ops/moe/expert_dispatcher.h"

#include "ops/base/error.h"
#include "ops/moe/moe.h"

namespace loom::ops {

at::Tensor LocalExpertDispatcher::Compute(const at::Tensor& x, const at::Tensor& topk_ids,
                                          const at::Tensor& topk_weights, const ExpertWeights& w) {
  if (w.gate_proj.size(0) != w.num_experts) {
    throw Error(ErrorWithFix("LocalExpertDispatcher holds " + std::to_string(w.gate_proj.size(0)) + " of " +
                                 std::to_string(w.num_experts) + " experts",
                             "install an expert-parallel dispatcher when experts are split across ranks"));
  }
  auto perm = PermuteByExpert(topk_ids, w.num_experts);
  auto rows = PermuteTokens(x, perm);                                                              // (M, C)
  auto out = SwigluExperts(rows, w.gate_proj, w.up_proj, w.down_proj, perm.counts_host, allow_grouped_mm_);  // (M, C)
  return UnpermuteTokens(out, topk_weights, perm, x.size(0));                                      // (N, C)
}

}  // namespace loom::ops
