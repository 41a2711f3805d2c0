// Activation recompute (checkpointing) applied from outside the model.
//
//   kFull       each unit (PlanSpec fsdp_unit_pattern, e.g. a decoder layer)
//               keeps only its input; its forward runs again inside backward
//   kSelective  only the spec's selective_recompute_pattern modules (an
//               LLM's MLPs: the largest activations a layer makes, cheap to
//               redo) are recomputed
//
// Implemented as a models::Module wrapper: the body runs under no_grad in
// forward; backward re-runs it with grad enabled and back-propagates through
// it (a reentrant backward, like PyTorch's use_reentrant=True). Composes with
// FSDP: the unit's pre-backward re-gather runs before the recomputed forward.
#pragma once

#include <string>

#include "models/core/trainable_model.h"

namespace loom::parallel {

enum class RecomputePolicy { kNone, kFull, kSelective };

RecomputePolicy ParseRecomputePolicy(const std::string& name);  // none|full|selective

// Sets the recompute wrapper on the modules the policy names in the model's
// PlanSpec; returns how many. ConfigError when the spec names none for a
// policy other than kNone. Remove with RemoveRecompute.
int ApplyRecompute(models::TrainableModel& model, RecomputePolicy policy);
// The same for one component (its ComponentSpec's patterns).
int ApplyRecompute(models::TrainableModel& model, RecomputePolicy policy, const models::PlanSpec& spec);
void RemoveRecompute(models::TrainableModel& model);

// Runs `body(input)` without keeping its activations; differentiable.
at::Tensor RecomputeInBackward(const models::Module::Body& body, const at::Tensor& input);

}  // namespace loom::parallel
