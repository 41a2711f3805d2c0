#include "models/core/trainable_model.h"

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "ops/loss/chunked_cross_entropy.h"

namespace loom::models {

void TrainableModel::SetAttentionBackend(std::shared_ptr<ops::AttentionBackend>) {
  throw ConfigError(ErrorWithFix(family() + " has no attention to redirect (its PlanSpec has no sp_attention_pattern)",
                                 "run it without an attention backend: SP then only slices activations"));
}

void TrainableModel::SetExpertDispatcher(std::shared_ptr<ops::ExpertDispatcher>) {
  throw ConfigError(ErrorWithFix(family() + " has no experts (its PlanSpec has no expert_param_pattern)",
                                 "set parallel.ep 1"));
}

int64_t TrainableModel::NumParameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

at::Tensor LossOfHidden(const at::Tensor& h, const at::Tensor& head, const at::Tensor& labels, const ModelInputs& in,
                        int64_t chunk_size, at::Tensor* by_group) {
  const auto flat = h.reshape({-1, h.size(-1)});
  if (!in.loss_groups.defined()) {
    *by_group = at::Tensor();
    return ops::ChunkedCrossEntropySum(flat, head, labels.reshape({-1}), chunk_size);
  }
  if (!in.loss_groups.sizes().equals(labels.sizes()) || in.n_loss_groups < 1) {
    throw ConfigError(ErrorWithFix("loss_groups of shape " + c10::str(in.loss_groups.sizes()) + " for labels " +
                                       c10::str(labels.sizes()),
                                   "give loss_groups the labels' shape and set n_loss_groups"));
  }
  *by_group = at::zeros({in.n_loss_groups}, h.options().dtype(at::kFloat));
  return ops::ChunkedCrossEntropySum(flat, head, labels.reshape({-1}), chunk_size, in.loss_groups.reshape({-1}), by_group);
}

}  // namespace loom::models
