// The one function that turns a config into the run's parallel Plan
// (parallel/plan/plan.h). `loom plan`, `loom train` (Trainer), the C ABI and
// the studio all call it, so they cannot disagree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/core/trainable_model.h"
#include "models/llm/llm_config.h"
#include "parallel/plan/plan.h"
#include "sdk/config/train_config.h"

namespace loom::train {

// The parallel.* keys component `spec` gets: parallel.*, then its
// components.<name>.parallel.* overrides. An encoder (one of several
// components, unable to split sequences: IsEncoder) defaults to its own mesh
// instead: sp 1, ep 1, dp_shard -1 (what dp_replicate leaves).
config::ParallelConfig ParallelOf(const config::LoomConfig& cfg, const models::ComponentSpec& spec, bool encoder);
bool IsEncoder(const models::ComponentSpec& spec, size_t num_components);

// The plan for `world` ranks: one component per entry of `components` (the
// model's component_specs(): "model" for an LLM; vision, audio, llm for an
// omni model), each from ParallelOf, train.dtype (compute precision) and its
// spec. dp_shard -1 is resolved when the mesh is valid. A components.<name>
// override naming no component is a ConfigError listing them. Does not
// validate the layout: see ValidatePlanFor.
parallel::Plan PlanFromConfig(const config::LoomConfig& cfg, int64_t world,
                              const std::vector<models::ComponentSpec>& components);
// The same for the configured model (built on the meta device for its specs).
parallel::Plan PlanFromConfig(const config::LoomConfig& cfg, int64_t world);

// The component specs of the configured model (built on the meta device).
std::vector<models::ComponentSpec> ComponentSpecsOf(const config::LoomConfig& cfg);

// The spec an LLM of `model` reports (family spec + head/expert counts).
models::PlanSpec SpecOf(const models::LlmConfig& model);

// Validates the plan against the components' specs, all at once
// (ConfigError listing every problem, each naming its component's key).
void ValidatePlanFor(const parallel::Plan& plan, const std::vector<models::ComponentSpec>& components);
void ValidatePlanFor(const parallel::Plan& plan, const models::LlmConfig& model);

}  // namespace loom::train
