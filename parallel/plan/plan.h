// Plan: the parallel layout of a run as one value. For each component of a
// model (matched by module path; today one, the whole model) it says what
// the component gets: its mesh (dp_replicate x dp_shard x sp, ep carved from
// dp_shard x sp), its FSDP units (the family's PlanSpec pattern plus
// overrides), recompute, precision and offload.
//
// One function builds it from a config (sdk/train/plan_config.h), one place
// validates it (FindPlanProblems: every problem at once, each naming the
// config key, the numbers and the fix), it round-trips through JSON, and it
// is the only input the executors read (ApplyPlan, parallel/plan/apply_plan.h).
// `loom plan`, `loom train`, the C ABI and the studio all use this value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

#include "models/core/plan_spec.h"
#include "parallel/mesh/parallel_state.h"
#include "parallel/recompute/recompute.h"

namespace loom::parallel {

// "fp32" | "bf16" -> dtype; anything else is a ConfigError naming `key`.
at::ScalarType ParseDtype(const std::string& name, const std::string& key);
std::string DtypeName(at::ScalarType dtype);  // "fp32" | "bf16"
std::string RecomputeName(RecomputePolicy policy);  // "none" | "full" | "selective"

// One notion of dtype for a component's numerics. Master weights, their
// gradients and the optimizer state are always fp32.
struct Precision {
  at::ScalarType compute = at::kFloat;  // autocast dtype of the forward/backward math
  at::ScalarType params = at::kFloat;   // FSDP's gathered parameters (bf16 gathers half the bytes)
  at::ScalarType reduce = at::kFloat;   // gradient reduce-scatter and replica all-reduce
};

struct MeshSizes {
  int64_t dp_replicate = 1;
  int64_t dp_shard = -1;  // -1: the rest of the world (resolved when the plan is built)
  int64_t sp = 1;
  int64_t ep = 1;
};

struct FsdpUnits {
  std::string unit_pattern;  // from the family's PlanSpec, e.g. "model.layers.*"
  int64_t layers_per_unit = 1;
  bool reshard_after_forward = true;
  bool prefetch = true;
};

struct ComponentPlan {
  std::string name = "model";  // the component ("model": a whole single-component model)
  std::string module_path;     // the subtree it covers ("" = the whole model)
  std::string family;          // registry model_type
  MeshSizes mesh;
  FsdpUnits fsdp;
  RecomputePolicy recompute = RecomputePolicy::kNone;
  std::string sp_mode = "sync";  // sync | async Ulysses all-to-alls
  int64_t ep_overlap_chunks = 1;
  Precision precision;
  bool offload = false;  // FSDP shards, gradients and AdamW state on the host

  // The config key of field `field` ("sp" -> "parallel.sp").
  std::string Key(const std::string& field) const;
};

struct Plan {
  int64_t world = 1;
  std::vector<ComponentPlan> components;

  // ConfigError naming the components when `name` is not one.
  const ComponentPlan& Component(const std::string& name) const;
};

nlohmann::json PlanToJson(const Plan& plan);
// Strict: an unknown or mistyped field is a ConfigError naming it.
Plan PlanFromJson(const nlohmann::json& json);

struct PlanProblem {
  std::string key;      // the config key to change
  std::string message;  // what is wrong, with the numbers, and the fix
};

// Every problem of `plan` for components whose model specs are `specs`
// (one per component, same order), all at once; empty = valid.
std::vector<PlanProblem> FindPlanProblems(const Plan& plan, const std::vector<models::PlanSpec>& specs);
// Throws one ConfigError listing every problem (a single problem reads as
// its own message).
void ValidatePlan(const Plan& plan, const std::vector<models::PlanSpec>& specs);

// The mesh of one component over the plan's world (validated).
ParallelState StateOf(const Plan& plan, const ComponentPlan& component);

}  // namespace loom::parallel
