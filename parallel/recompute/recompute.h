// Activation recompute (checkpointing) applied from outside the model.
//
//   kFull       each decoder layer keeps only its input; its forward runs
//               again inside backward (per-unit activation checkpointing)
//   kSelective  only each layer's MLP is recomputed: its (T x intermediate)
//               activations are the largest a layer makes, its recompute cheap
//
// Implemented as a models::Module wrapper: the body runs under no_grad in
// forward; backward re-runs it with grad enabled and back-propagates through
// it (a reentrant backward, like PyTorch's use_reentrant=True). Composes with
// FSDP: the unit's pre-backward re-gather runs before the recomputed forward.
#pragma once

#include <string>

#include "models/llm/decoder_lm.h"

namespace loom::parallel {

enum class RecomputePolicy { kNone, kFull, kSelective };

RecomputePolicy ParseRecomputePolicy(const std::string& name);  // none|full|selective

void ApplyRecompute(models::DecoderLM& model, RecomputePolicy policy);

// Runs `body(input)` without keeping its activations; differentiable.
at::Tensor Checkpoint(const models::Module::Body& body, const at::Tensor& input);

}  // namespace loom::parallel
