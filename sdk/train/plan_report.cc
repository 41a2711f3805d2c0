#include "sdk/train/plan_report.h"

#include <algorithm>

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
namespace {

// ValidatePlan's error, keeping the problems' own keys: the plan check
// reports each problem at the key it names (components.llm.parallel.sp),
// not at the leaves its message mentions.
struct PlanProblemsError : ConfigError {
  PlanProblemsError(const std::string& what, std::vector<parallel::PlanProblem> p)
      : ConfigError(what), problems(std::move(p)) {}
  std::vector<parallel::PlanProblem> problems;
};

void Validate(const parallel::Plan& plan, const std::vector<models::PlanSpec>& specs) {
  try {
    parallel::ValidatePlan(plan, specs);
  } catch (const ConfigError& e) {
    throw PlanProblemsError(e.what(), parallel::FindPlanProblems(plan, specs));
  }
}

// A problem's keys: its own, then the parallel keys its message mentions,
// qualified by the same component ("parallel.sp" in a message about
// components.llm.parallel.dp_shard is components.llm.parallel.sp).
nlohmann::json ProblemJson(const parallel::PlanProblem& p) {
  const std::string prefix = p.key.rfind("components.", 0) == 0 && p.key.find(".parallel.") != std::string::npos
                                 ? p.key.substr(0, p.key.find(".parallel.") + 1)
                                 : "";
  std::vector<std::string> keys{p.key};
  for (auto key : config::KeysMentioned(p.message)) {
    if (!prefix.empty() && key.rfind("parallel.", 0) == 0) key = prefix + key;
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
  }
  return {{"message", p.key + ": " + p.message}, {"keys", keys}};
}

}  // namespace

nlohmann::json PlanReport(const config::LoomConfig& cfg, const PlanReportOptions& o) {
  if (o.world < 1) throw ConfigError(ErrorWithFix("world size " + std::to_string(o.world) + " is not >= 1", "pass a world of 1 or more ranks"));
  if (IsOmni(cfg.model)) {
    const auto built = BuildModel(cfg, at::Device(at::kMeta));
    const auto specs = built.model->component_specs();
    const parallel::Plan plan = PlanFromConfig(cfg, o.world, specs);
    std::vector<models::PlanSpec> plan_specs;
    for (const auto& c : specs) plan_specs.push_back(c.spec);
    Validate(plan, plan_specs);
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
  Validate(plan, {SpecOf(model)});
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
  } catch (const PlanProblemsError& e) {
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& p : e.problems) errors.push_back(ProblemJson(p));
    return {{"valid", false}, {"errors", errors}};
  } catch (const ConfigError& e) {
    return {{"valid", false}, {"errors", config::ConfigErrorsJson(e.what())}};
  }
}

}  // namespace loom::train
