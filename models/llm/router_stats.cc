#include "models/llm/router_stats.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/base/error.h"

namespace loom::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct AuxLossGradFn : torch::autograd::Function<AuxLossGradFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& prob_sums,
                            c10::IValue stats) {
    ctx->saved_data["stats"] = std::move(stats);
    ctx->saved_data["prob_dtype"] = static_cast<int64_t>(prob_sums.scalar_type());
    ctx->saved_data["experts"] = prob_sums.size(0);
    return hidden;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    // Read now, not at forward: under recompute the forward ran again inside
    // backward, after the recorded forward's Finish.
    auto stats = c10::static_intrusive_pointer_cast<RouterStats>(ctx->saved_data["stats"].toCapsule());
    const auto dtype = static_cast<at::ScalarType>(ctx->saved_data["prob_dtype"].toInt());
    const auto w = stats->grad_weights();
    at::Tensor prob_grad = w.defined() ? w.to(grads[0].device(), dtype)
                                       : at::zeros({ctx->saved_data["experts"].toInt()},
                                                   grads[0].options().dtype(dtype));
    return {grads[0], prob_grad, at::Tensor()};
  }
};

}  // namespace

RouterStats::RouterStats(int64_t num_sparse_layers, int64_t num_experts, double coef)
    : num_layers_(num_sparse_layers), num_experts_(num_experts), coef_(coef) {
  Begin(false);
}

void RouterStats::Begin(bool record) {
  recording_ = record;
  has_aux_ = false;
  aux_ = 0;
  grad_weights_ = at::Tensor();
  recorded_.assign(num_layers_, false);
  totals_.counts = at::zeros({num_layers_, num_experts_}, at::kLong);
  totals_.prob_sums = at::zeros({num_layers_, num_experts_}, at::kDouble);
  totals_.tokens = at::zeros({num_layers_}, at::kDouble);
}

void RouterStats::Record(int64_t index, const at::Tensor& counts, const at::Tensor& prob_sums, int64_t tokens) {
  if (!recording_) return;
  if (index < 0 || index >= num_layers_ || recorded_[index]) {
    throw Error("RouterStats: sparse layer " + std::to_string(index) +
                " recorded twice or out of range in one forward (a recompute re-run must not record)");
  }
  recorded_[index] = true;
  totals_.counts[index].copy_(counts.detach().to(at::kCPU, at::kLong));
  totals_.prob_sums[index].copy_(prob_sums.detach().to(at::kCPU, at::kDouble));
  totals_.tokens[index].fill_(static_cast<double>(tokens));
}

void RouterStats::Finish() {
  if (!recording_) return;
  recording_ = false;
  for (int64_t i = 0; i < num_layers_; ++i) {
    if (!recorded_[i]) throw Error("RouterStats: sparse layer " + std::to_string(i) + " did not record");
  }
  Evaluate();
}

void RouterStats::CompleteWith(RouterTotals reduced) {
  if (!has_aux_) throw Error("RouterStats: CompleteWith before a recorded forward finished");
  totals_ = std::move(reduced);
  Evaluate();
}

void RouterStats::Evaluate() {
  aux_ = 0;
  grad_weights_ = at::Tensor();
  const double ntot = totals_.tokens.sum().item<double>();
  auto f = totals_.counts.sum(0).to(at::kDouble);  // (E)
  auto p = totals_.prob_sums.sum(0);               // (E)
  const double e = static_cast<double>(num_experts_);
  if (ntot > 0) {
    aux_ = e * (f * p).sum().item<double>() / (ntot * ntot);
    if (coef_ != 0) grad_weights_ = (f * (coef_ * e / (ntot * ntot))).to(at::kFloat);
  }
  has_aux_ = true;
}

at::Tensor RouterStats::grad_weights() const {
  return grad_weights_.defined() && grad_scale_ != 1.0 ? grad_weights_ * grad_scale_ : grad_weights_;
}

at::Tensor AttachAuxLossGradient(const at::Tensor& hidden, const at::Tensor& prob_sums,
                                 const c10::intrusive_ptr<RouterStats>& stats) {
  return AuxLossGradFn::apply(hidden, prob_sums, c10::IValue::make_capsule(stats));
}

}  // namespace loom::models
