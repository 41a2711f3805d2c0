// The one function that turns a config into the run's parallel Plan
// (parallel/plan/plan.h). `loom plan`, `loom train` (Trainer), the C ABI and
// the studio all call it, so they cannot disagree.
#pragma once

#include <cstdint>

#include "models/llm/llm_config.h"
#include "parallel/plan/plan.h"
#include "sdk/config/train_config.h"

namespace loom::train {

// The plan for `world` ranks: one component, "model", from parallel.*,
// train.dtype (compute precision) and the family's PlanSpec. dp_shard -1 is
// resolved when the mesh is valid. Does not validate: see PlanProblemsOf.
parallel::Plan PlanFromConfig(const config::LoomConfig& cfg, int64_t world);

// The spec the model of `cfg` will report (family spec + head/expert counts).
models::PlanSpec SpecOf(const models::LlmConfig& model);

// Validates the config's model and its plan together; ConfigError listing
// every problem.
void ValidatePlanFor(const parallel::Plan& plan, const models::LlmConfig& model);

}  // namespace loom::train
