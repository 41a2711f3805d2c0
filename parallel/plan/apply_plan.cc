#include "parallel/plan/apply_plan.h"

#include "ops/base/error.h"
#include "parallel/expert/expert_dispatcher.h"
#include "parallel/ulysses/ulysses_attention.h"

namespace loom::parallel {

FsdpOptions FsdpOptionsOf(const ComponentPlan& c) {
  FsdpOptions fo;
  fo.layers_per_unit = static_cast<int>(c.fsdp.layers_per_unit);
  fo.reshard_after_forward = c.fsdp.reshard_after_forward;
  fo.prefetch = c.fsdp.prefetch;
  fo.param_dtype = c.precision.params;
  fo.reduce_dtype = c.precision.reduce;
  fo.offload = c.offload;
  fo.module_path = c.module_path;
  return fo;
}

models::PlanSpec ComponentSpecOf(const models::TrainableModel& model, const ComponentPlan& c) {
  if (c.module_path.empty()) return model.plan_spec();
  std::string known;
  for (const auto& spec : model.component_specs()) {
    if (spec.module_path == c.module_path) return spec.spec;
    known += (known.empty() ? "" : ", ") + spec.name;
  }
  throw ConfigError(ErrorWithFix("plan component '" + c.name + "' (module '" + c.module_path + "') is not a component of the " +
                                     model.family() + " model",
                                 "plan its components: " + known));
}

AppliedPlan ApplyPlan(const std::shared_ptr<models::TrainableModel>& model, const Plan& plan,
                      const ComponentPlan& c, const comm::CommunicatorPtr& world, models::ParameterSource* source) {
  const models::PlanSpec spec = ComponentSpecOf(*model, c);
  Plan one = plan;
  one.components = {c};
  ValidatePlan(one, {spec});
  const int world_size = world ? world->size() : 1;
  if (world_size != plan.world) {
    throw ConfigError(ErrorWithFix("the plan is for " + std::to_string(plan.world) + " ranks but this world has " +
                                       std::to_string(world_size),
                                   "build the plan for this world (loom launch --nproc " + std::to_string(plan.world) + ")"));
  }
  AppliedPlan applied;
  ApplyRecompute(*model, c.recompute, spec);  // 1
  if (world_size == 1) return applied;
  applied.groups = BuildProcessGroups(StateOf(plan, c), world);
  if (c.mesh.sp > 1 && !spec.sp_attention_pattern.empty()) {  // 2
    model->SetAttentionBackend(std::make_shared<UlyssesAttention>(
        applied.groups.sp, c.sp_mode == "async" ? UlyssesMode::kAsync : UlyssesMode::kSync));
  }
  if (c.mesh.ep > 1 && spec.num_experts > 0) {
    model->SetExpertDispatcher(std::make_shared<ExpertParallelDispatcher>(
        applied.groups.ep, ExpertParallelOptions{c.ep_overlap_chunks}));
  }
  applied.fsdp = std::make_unique<FsdpModel>(model, applied.groups, FsdpOptionsOf(c), source);  // 3
  return applied;
}

}  // namespace loom::parallel
