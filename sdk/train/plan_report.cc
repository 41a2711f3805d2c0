#include "sdk/train/plan_report.h"

#include <c10/core/Device.h>

#include "models/omni/omni_model.h"
#include "ops/base/error.h"
#include "parallel/mesh/parallel_state.h"
#include "parallel/plan/memory_estimate.h"
#include "parallel/plan/omni_memory.h"
#include "sdk/config/schema.h"
#include "sdk/train/model_build.h"
#include "sdk/train/model_config.h"
#include "sdk/train/plan_config.h"

namespace loom::train {

nlohmann::json PlanReport(const config::LoomConfig& cfg, const PlanReportOptions& o) {
  if (o.world < 1) throw ConfigError(ErrorWithFix("world size " + std::to_string(o.world) + " is not >= 1", "pass a world of 1 or more ranks"));
  if (IsOmni(cfg.model)) {
    const auto built = BuildModel(cfg, at::Device(at::kMeta));
    const auto specs = built.model->component_specs();
    const parallel::Plan plan = PlanFromConfig(cfg, o.world, specs);
    ValidatePlanFor(plan, specs);
    const auto& omni = static_cast<const models::OmniModel&>(*built.model).config();
    const auto estimates = parallel::EstimateOmniMemory(omni, plan, cfg.data.seq_len, cfg.data.micro_batch_size, o.media_fraction);
    nlohmann::json memory = nlohmann::json::object();
    for (const auto& e : estimates) memory[e.name] = parallel::EstimateToJson(e.estimate);
    memory["total_bytes"] = parallel::TotalBytes(estimates);
    nlohmann::json out{{"plan", parallel::PlanToJson(plan)}, {"memory_per_rank", memory}, {"media_fraction", o.media_fraction}};
    if (!o.memory_budget.empty()) {
      const int64_t bytes = parallel::ParseByteSize(o.memory_budget, "memory budget");
      out["memory_budget"] = {{"bytes", bytes},
                              {"longest_seq_len", parallel::LongestOmniSeqLenWithin(bytes, omni, plan, cfg.data.micro_batch_size,
                                                                                    o.media_fraction)}};
    }
    return out;
  }
  const auto model = ModelConfigOf(cfg.model);
  model.Validate(cfg.model.path.empty() ? "model.*" : cfg.model.path + "/config.json");
  const parallel::Plan plan = PlanFromConfig(cfg, o.world);
  ValidatePlanFor(plan, model);
  const auto& c = plan.Component("model");
  const auto state = parallel::StateOf(plan, c);
  const auto estimate = parallel::EstimateMemory(model, state, c.recompute, cfg.data.seq_len, cfg.data.micro_batch_size,
                                                 c.fsdp.layers_per_unit);
  nlohmann::json out{{"plan", parallel::PlanToJson(plan)}, {"memory_per_rank", {{"model", parallel::EstimateToJson(estimate)}}}};
  if (!o.memory_budget.empty()) {
    const int64_t bytes = parallel::ParseByteSize(o.memory_budget, "memory budget");
    out["memory_budget"] = {{"bytes", bytes},
                            {"longest_seq_len", parallel::LongestSeqLenWithin(bytes, model, state, c.recompute,
                                                                              cfg.data.micro_batch_size, c.fsdp.layers_per_unit)}};
  }
  return out;
}

nlohmann::json CheckPlan(const config::LoomConfig& cfg, const PlanReportOptions& options) {
  try {
    nlohmann::json out = PlanReport(cfg, options);
    out["valid"] = true;
    return out;
  } catch (const ConfigError& e) {
    return {{"valid", false}, {"errors", config::ConfigErrorsJson(e.what())}};
  }
}

}  // namespace loom::train
