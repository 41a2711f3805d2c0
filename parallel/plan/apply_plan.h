// ApplyPlan: the one place that applies a component's plan to a model, in a
// fixed order:
//   1. recompute wrappers on the spec's modules (they run inside FSDP's
//      unit hooks, so a recomputed forward re-gathers its unit);
//   2. the Ulysses attention backend (sp > 1 and the spec has attention)
//      and the expert-parallel dispatcher (ep > 1): installed before FSDP
//      shards, which slices stacked experts by the ep group;
//   3. FSDP/HSDP over the component's groups (world > 1), filling shards
//      from `source` (sharded construction) or the model's own values.
// Executors find what they act on through model.plan_spec() alone.
#pragma once

#include <memory>

#include "models/core/parameter_source.h"
#include "models/core/trainable_model.h"
#include "parallel/comm/communicator.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "parallel/plan/plan.h"

namespace loom::parallel {

struct AppliedPlan {
  ProcessGroups groups;               // null communicators in one process
  std::unique_ptr<FsdpModel> fsdp;    // null in one process
  bool distributed() const { return fsdp != nullptr; }
};

// Validates `component` against the model's spec for it (ConfigError
// listing every problem) and applies it: to the whole model, or to one
// component's subtree (an omni model gets one ApplyPlan per component, each
// with its own groups and FsdpModel; parallel/fsdp/component_fsdp.h joins them). `world` may be null (one process: recompute only).
AppliedPlan ApplyPlan(const std::shared_ptr<models::TrainableModel>& model, const Plan& plan,
                      const ComponentPlan& component, const comm::CommunicatorPtr& world,
                      models::ParameterSource* source = nullptr);

// The FsdpOptions a component's plan asks for (compute device: CPU).
FsdpOptions FsdpOptionsOf(const ComponentPlan& component);

// The model's spec for the component (its component_specs() entry with the
// component's module_path; "" = the whole model). ConfigError naming the
// model's components when none matches.
models::PlanSpec ComponentSpecOf(const models::TrainableModel& model, const ComponentPlan& component);

}  // namespace loom::parallel
