#include "models/core/trainable_model.h"

#include "ops/base/error.h"

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

}  // namespace loom::models
