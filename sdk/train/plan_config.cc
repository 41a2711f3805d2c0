#include "sdk/train/plan_config.h"

#include "models/llm/decoder_lm.h"
#include "sdk/train/model_config.h"

namespace loom::train {

models::PlanSpec SpecOf(const models::LlmConfig& m) { return models::DecoderLM::SpecFor(m); }

parallel::Plan PlanFromConfig(const config::LoomConfig& cfg, int64_t world) {
  const auto& p = cfg.parallel;
  parallel::Plan plan;
  plan.world = world;
  parallel::ComponentPlan c;
  c.name = "model";
  c.family = cfg.model.path.empty() ? cfg.model.arch.model_type : ModelConfigOf(cfg.model).model_type;
  c.mesh = {p.dp_replicate, p.dp_shard, p.sp, p.ep};
  const parallel::MeshShape shape{static_cast<int>(p.dp_replicate), static_cast<int>(p.dp_shard),
                                  static_cast<int>(p.sp), static_cast<int>(p.ep)};
  if (parallel::ParallelState::Validate(static_cast<int>(world), shape).empty()) {
    c.mesh.dp_shard = parallel::ParallelState::Create(static_cast<int>(world), shape).shape().dp_shard;
  }
  c.fsdp.unit_pattern = models::DecoderLM::FamilySpec(c.family).fsdp_unit_pattern;
  c.fsdp.layers_per_unit = p.fsdp_layers_per_unit;
  c.fsdp.reshard_after_forward = p.reshard_after_forward;
  c.fsdp.prefetch = p.prefetch;
  c.recompute = parallel::ParseRecomputePolicy(p.recompute);
  c.sp_mode = p.sp_mode;
  c.ep_overlap_chunks = p.ep_overlap_chunks;
  c.precision.compute = parallel::ParseDtype(cfg.train.dtype, "train.dtype");
  c.precision.params = parallel::ParseDtype(p.param_dtype, "parallel.param_dtype");
  c.precision.reduce = parallel::ParseDtype(p.reduce_dtype, "parallel.reduce_dtype");
  c.offload = p.cpu_offload;
  plan.components.push_back(std::move(c));
  return plan;
}

void ValidatePlanFor(const parallel::Plan& plan, const models::LlmConfig& model) {
  parallel::ValidatePlan(plan, {SpecOf(model)});
}

}  // namespace loom::train
