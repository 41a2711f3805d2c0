// The expert dispatcher: how a mixture-of-experts layer sends its tokens to
// experts and combines the results. The model calls it; a parallel plan
// swaps the implementation (like ops::AttentionBackend for SP), so expert
// parallelism enters without model changes:
//
//   LocalExpertDispatcher   every expert on this process: permute by expert,
//                           grouped SwiGLU, weighted unpermute (default)
//   (parallel/expert/...)   an all-to-all dispatcher that owns a contiguous
//                           range of experts: exchange counts, all-to-all the
//                           permuted rows, SwigluExperts on its local experts,
//                           all-to-all back, UnpermuteTokens
//
// Contract of Compute:
//   x             (N, C) tokens of this process (already normalised)
//   topk_ids      (N, k) int64 global expert ids in [0, num_experts)
//   topk_weights  (N, k) combine weights (router probabilities, renormalised
//                 when the config says so), differentiable
//   weights       the stacked expert parameters exactly as the model holds
//                 them: dim 0 indexes the experts this process holds (all E
//                 locally; a contiguous range [first, first + E/ep) under EP,
//                 which the dispatcher knows from its own construction)
//   returns       (N, C) = sum_s topk_weights[t, s] * expert_{topk_ids[t, s]}(x[t])
// Every expert parameter must take part in the autograd graph even when it
// receives no rows (FSDP counts gradient arrivals per parameter): using the
// stacked tensors as a whole guarantees it. A dispatcher never changes the
// routing decisions; the model computes them.
#pragma once

#include <ATen/core/Tensor.h>

namespace loom::ops {

struct ExpertWeights {
  at::Tensor gate_proj;     // (E_local, I, C)
  at::Tensor up_proj;       // (E_local, I, C)
  at::Tensor down_proj;     // (E_local, C, I)
  int64_t num_experts = 0;  // global E
};

class ExpertDispatcher {
 public:
  virtual ~ExpertDispatcher() = default;
  virtual at::Tensor Compute(const at::Tensor& x, const at::Tensor& topk_ids, const at::Tensor& topk_weights,
                             const ExpertWeights& weights) = 0;
};

// All experts local (weights' dim 0 == num_experts).
class LocalExpertDispatcher : public ExpertDispatcher {
 public:
  explicit LocalExpertDispatcher(bool allow_grouped_mm = true) : allow_grouped_mm_(allow_grouped_mm) {}
  at::Tensor Compute(const at::Tensor& x, const at::Tensor& topk_ids, const at::Tensor& topk_weights,
                     const ExpertWeights& weights) override;

 private:
  bool allow_grouped_mm_;
};

}  // namespace loom::ops
