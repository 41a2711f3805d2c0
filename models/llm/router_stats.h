// RouterStats: what the MoE routers of one forward saw, and the
// load-balancing auxiliary loss built from it (Hugging Face's
// load_balancing_loss_func, Switch Transformer eq. 4-6):
//
//   aux = E * sum_e F_e * P_e / Ntot^2
//     F_e   (token, sparse layer, slot) assignments to expert e (no gradient)
//     P_e   sum over sparse layers and non-padding tokens of the router
//           probability of e
//     Ntot  sparse layers x non-padding tokens
//
// Given F, aux is linear in each layer's probability sums, so its gradient
// needs no graph of its own: d(coef * aux)/d(prob sums of any layer) =
// coef * E * F_e / Ntot^2. Each sparse layer passes its prob sums through an
// identity on its output whose backward adds exactly that (Megatron's
// MoEAuxLossAutoScaler), reading the weights from this collector at backward
// time. That keeps the aux gradient exact under activation recompute (the
// layer's forward runs again inside backward; it must not record twice) and
// under data / sequence / expert parallelism: Finish evaluates aux from
// this rank's statistics, and the loss boundary (sdk/train/train_step), after
// the forward and before the backward, sums the totals over ranks and calls
// CompleteWith, which re-evaluates aux and the gradient weights. The model
// never communicates.
//
// Life cycle, per model forward (DecoderLM drives it):
//   Begin(record)  clears everything; `record` only for the first forward of
//                  a micro-batch (DecoderLM::LossSum), never for a recompute
//                  re-run inside backward or for plain Logits/Hidden calls
//   Record(...)    each sparse layer, while recording
//   Finish()       computes aux and the gradient weights from local totals
//   CompleteWith() (optional, before backward) the same from reduced totals
// The aux loss is per micro-batch: equal to one process when the
// micro-batching is the same. Not thread-safe (one forward at a time).
#pragma once

#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

namespace loom::models {

// The statistics a parallel plan may sum over ranks (all on the CPU).
struct RouterTotals {
  at::Tensor counts;     // (L, E) int64: assignments per sparse layer and expert
  at::Tensor prob_sums;  // (L, E) fp64: router probability sums (values only)
  at::Tensor tokens;     // (L) fp64: non-padding tokens each sparse layer routed
};

class RouterStats : public torch::CustomClassHolder {
 public:
  // `coef` scales the aux loss in the training loss (0: report only, no gradient).
  RouterStats(int64_t num_sparse_layers, int64_t num_experts, double coef);

  void Begin(bool record);
  bool recording() const { return recording_; }
  // Sparse layer `index` (0-based among sparse layers) reports counts (E)
  // int64 and prob sums (E) over its non-padding tokens, and their number.
  void Record(int64_t index, const at::Tensor& counts, const at::Tensor& prob_sums, int64_t tokens);
  void Finish();

  // Replaces the totals of the last recorded forward with `reduced` (summed
  // over every rank holding distinct tokens of the step) and re-evaluates
  // aux and the gradient weights. Call after Finish, before backward.
  void CompleteWith(RouterTotals reduced);

  // Multiplies the aux gradient (not aux_loss()): a train step over n
  // micro-batches sets 1/n, its loss being the mean of their aux losses.
  // Persists across forwards; default 1.
  void set_grad_scale(double scale) { grad_scale_ = scale; }
  double grad_scale() const { return grad_scale_; }

  int64_t num_experts() const { return num_experts_; }
  double coef() const { return coef_; }
  // After Finish of a recorded forward: true, and the values below are set.
  bool has_aux() const { return has_aux_; }
  double aux_loss() const { return aux_; }         // unweighted aux (times coef in the loss)
  const RouterTotals& totals() const { return totals_; }  // local, or reduced after CompleteWith
  // grad_scale * coef * E * F / Ntot^2 (E) fp32: the aux gradient with
  // respect to any sparse layer's prob sums; undefined when there is none.
  // Read when the backward runs, so a scale set after the forward applies.
  at::Tensor grad_weights() const;

 private:
  void Evaluate();  // aux and grad weights from totals_
  int64_t num_layers_, num_experts_;
  double coef_;
  double grad_scale_ = 1.0;
  bool recording_ = false;
  bool has_aux_ = false;
  std::vector<bool> recorded_;
  RouterTotals totals_;
  double aux_ = 0;
  at::Tensor grad_weights_;
};

// Identity on `hidden` whose backward also returns stats.grad_weights() as
// the gradient of `prob_sums` (E) (zero when the stats hold no aux).
at::Tensor AttachAuxLossGradient(const at::Tensor& hidden, const at::Tensor& prob_sums,
                                 const c10::intrusive_ptr<RouterStats>& stats);

}  // namespace loom::models
