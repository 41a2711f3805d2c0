#include "sdk/train/plan_config.h"

#include "models/llm/decoder_lm.h"
#include "ops/base/error.h"
#include "sdk/config/schema.h"
#include "sdk/train/model_build.h"

namespace loom::train {
namespace {

parallel::ComponentPlan ComponentPlanOf(const config::LoomConfig& cfg, int64_t world, const models::ComponentSpec& spec,
                                        bool encoder) {
  const config::ParallelConfig p = ParallelOf(cfg, spec, encoder);
  parallel::ComponentPlan c;
  c.name = spec.name;
  c.module_path = spec.module_path;
  c.family = spec.family;
  c.mesh = {p.dp_replicate, p.dp_shard, p.sp, p.ep};
  const parallel::MeshShape shape{static_cast<int>(p.dp_replicate), static_cast<int>(p.dp_shard),
                                  static_cast<int>(p.sp), static_cast<int>(p.ep)};
  if (parallel::ParallelState::Validate(static_cast<int>(world), shape).empty()) {
    c.mesh.dp_shard = parallel::ParallelState::Create(static_cast<int>(world), shape).shape().dp_shard;
  }
  c.fsdp.unit_pattern = spec.spec.fsdp_unit_pattern;
  c.fsdp.layers_per_unit = p.fsdp_layers_per_unit;
  c.fsdp.reshard_after_forward = p.reshard_after_forward;
  c.fsdp.prefetch = p.prefetch;
  c.recompute = parallel::ParseRecomputePolicy(p.recompute);
  c.sp_mode = p.sp_mode;
  c.ep_overlap_chunks = p.ep_overlap_chunks;
  c.precision.compute = parallel::ParseDtype(cfg.train.dtype, "train.dtype");
  c.precision.params = parallel::ParseDtype(p.param_dtype, c.Key("param_dtype"));
  c.precision.reduce = parallel::ParseDtype(p.reduce_dtype, c.Key("reduce_dtype"));
  c.offload = p.cpu_offload;
  return c;
}

}  // namespace

bool IsEncoder(const models::ComponentSpec& spec, size_t num_components) {
  return num_components > 1 && spec.spec.sp_attention_pattern.empty();
}

config::ParallelConfig ParallelOf(const config::LoomConfig& cfg, const models::ComponentSpec& spec, bool encoder) {
  config::LoomConfig scratch;
  scratch.parallel = cfg.parallel;
  if (encoder) {  // its own mesh over the world
    scratch.parallel.dp_shard = -1;
    scratch.parallel.sp = 1;
    scratch.parallel.ep = 1;
  }
  const auto it = cfg.components.find(spec.name);
  if (it != cfg.components.end()) {
    for (const auto& [leaf, value] : it->second) {
      const std::string key = "components." + spec.name + ".parallel." + leaf;
      config::SetFromString(*config::FindKey("parallel." + leaf), scratch, value, key);
    }
  }
  return scratch.parallel;
}

parallel::Plan PlanFromConfig(const config::LoomConfig& cfg, int64_t world,
                              const std::vector<models::ComponentSpec>& components) {
  std::string names;
  for (const auto& spec : components) names += (names.empty() ? "" : ", ") + spec.name;
  for (const auto& [name, keys] : cfg.components) {
    bool known = false;
    for (const auto& spec : components) known |= spec.name == name;
    if (!known) {
      throw ConfigError(ErrorWithFix("components." + name + ".parallel." + keys.begin()->first +
                                         ": the model has no component '" + name + "' (its components: " + names + ")",
                                     "use one of: " + names));
    }
  }
  parallel::Plan plan;
  plan.world = world;
  for (const auto& spec : components) {
    plan.components.push_back(ComponentPlanOf(cfg, world, spec, IsEncoder(spec, components.size())));
  }
  return plan;
}

std::vector<models::ComponentSpec> ComponentSpecsOf(const config::LoomConfig& cfg) {
  return BuildModel(cfg, at::Device(at::kMeta)).model->component_specs();
}

parallel::Plan PlanFromConfig(const config::LoomConfig& cfg, int64_t world) {
  return PlanFromConfig(cfg, world, ComponentSpecsOf(cfg));
}

models::PlanSpec SpecOf(const models::LlmConfig& m) { return models::DecoderLM::SpecFor(m); }

void ValidatePlanFor(const parallel::Plan& plan, const std::vector<models::ComponentSpec>& components) {
  std::vector<models::PlanSpec> specs;
  for (const auto& c : components) specs.push_back(c.spec);
  parallel::ValidatePlan(plan, specs);
}

void ValidatePlanFor(const parallel::Plan& plan, const models::LlmConfig& model) {
  parallel::ValidatePlan(plan, {SpecOf(model)});
}

}  // namespace loom::train
