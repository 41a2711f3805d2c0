// Whether a model can run under a parallel layout: the checks that need the
// model's architecture (the mesh's own arithmetic is ParallelState's). One
// place, used by `loom train` and `loom plan`, so both refuse the same plans
// before any work, with the same fix.
#pragma once

#include "models/llm/llm_config.h"

namespace loom::parallel {

// Throws loom::ConfigError naming the problem and the fix when `model`
// cannot run with Ulysses `sp` (heads must divide) or expert parallelism `ep`
// (a MoE model whose experts divide).
void CheckModelLayout(const models::LlmConfig& model, int64_t sp, int64_t ep);

}  // namespace loom::parallel
