#include "parallel/plan/plan.h"

#include <set>

#include "ops/base/error.h"
#include "parallel/expert/expert_parallel.h"
#include "parallel/ulysses/ulysses_attention.h"

namespace loom::parallel {
namespace {

using nlohmann::json;

// Checks `j` is an object holding exactly `keys` (all required).
void ExpectFields(const json& j, const std::string& where, const std::set<std::string>& keys) {
  if (!j.is_object()) throw ConfigError(ErrorWithFix("plan JSON: " + where + " is not an object", "write it as {...}"));
  for (const auto& [k, v] : j.items()) {
    if (!keys.count(k)) {
      std::string known;
      for (const auto& n : keys) known += (known.empty() ? "" : ", ") + n;
      throw ConfigError(ErrorWithFix("plan JSON: unknown field '" + where + "." + k + "'", "use only: " + known));
    }
  }
  for (const auto& k : keys) {
    if (!j.contains(k)) throw ConfigError(ErrorWithFix("plan JSON: missing field '" + where + "." + k + "'", "add it"));
  }
}

template <typename T>
T Get(const json& j, const std::string& where, const std::string& key) {
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw ConfigError(ErrorWithFix("plan JSON: field '" + where + "." + key + "' has the wrong type (" +
                                       j.at(key).dump() + ")",
                                   "see `loom plan CONFIG --json` for the expected form"));
  }
}

}  // namespace

at::ScalarType ParseDtype(const std::string& name, const std::string& key) {
  if (name == "fp32") return at::kFloat;
  if (name == "bf16") return at::kBFloat16;
  throw ConfigError(ErrorWithFix(key + " '" + name + "' is not a supported dtype", "use fp32 or bf16"));
}

std::string DtypeName(at::ScalarType dtype) {
  if (dtype == at::kFloat) return "fp32";
  if (dtype == at::kBFloat16) return "bf16";
  return c10::toString(dtype);
}

std::string RecomputeName(RecomputePolicy policy) {
  switch (policy) {
    case RecomputePolicy::kNone: return "none";
    case RecomputePolicy::kFull: return "full";
    case RecomputePolicy::kSelective: return "selective";
  }
  return "none";
}

std::string ComponentPlan::Key(const std::string& field) const {
  return (name == "model" ? std::string("parallel.") : "components." + name + ".parallel.") + field;
}

const ComponentPlan& Plan::Component(const std::string& name) const {
  std::string known;
  for (const auto& c : components) {
    if (c.name == name) return c;
    known += (known.empty() ? "" : ", ") + c.name;
  }
  throw ConfigError(ErrorWithFix("the plan has no component '" + name + "'", "use one of: " + known));
}

json PlanToJson(const Plan& plan) {
  json components = json::array();
  for (const auto& c : plan.components) {
    components.push_back({
        {"name", c.name},
        {"module_path", c.module_path},
        {"family", c.family},
        {"mesh", {{"dp_replicate", c.mesh.dp_replicate}, {"dp_shard", c.mesh.dp_shard}, {"sp", c.mesh.sp}, {"ep", c.mesh.ep}}},
        {"fsdp",
         {{"unit_pattern", c.fsdp.unit_pattern},
          {"layers_per_unit", c.fsdp.layers_per_unit},
          {"reshard_after_forward", c.fsdp.reshard_after_forward},
          {"prefetch", c.fsdp.prefetch}}},
        {"recompute", RecomputeName(c.recompute)},
        {"sp_mode", c.sp_mode},
        {"ep_overlap_chunks", c.ep_overlap_chunks},
        {"precision",
         {{"compute", DtypeName(c.precision.compute)},
          {"params", DtypeName(c.precision.params)},
          {"reduce", DtypeName(c.precision.reduce)}}},
        {"offload", c.offload},
    });
  }
  return {{"world", plan.world}, {"components", components}};
}

Plan PlanFromJson(const json& j) {
  ExpectFields(j, "plan", {"world", "components"});
  Plan plan;
  plan.world = Get<int64_t>(j, "plan", "world");
  if (!j.at("components").is_array()) {
    throw ConfigError(ErrorWithFix("plan JSON: 'components' is not an array", "write it as [...]"));
  }
  for (size_t i = 0; i < j.at("components").size(); ++i) {
    const json& cj = j.at("components")[i];
    const std::string where = "components[" + std::to_string(i) + "]";
    ExpectFields(cj, where, {"name", "module_path", "family", "mesh", "fsdp", "recompute", "sp_mode",
                             "ep_overlap_chunks", "precision", "offload"});
    ComponentPlan c;
    c.name = Get<std::string>(cj, where, "name");
    c.module_path = Get<std::string>(cj, where, "module_path");
    c.family = Get<std::string>(cj, where, "family");
    const json& m = cj.at("mesh");
    ExpectFields(m, where + ".mesh", {"dp_replicate", "dp_shard", "sp", "ep"});
    c.mesh = {Get<int64_t>(m, where + ".mesh", "dp_replicate"), Get<int64_t>(m, where + ".mesh", "dp_shard"),
              Get<int64_t>(m, where + ".mesh", "sp"), Get<int64_t>(m, where + ".mesh", "ep")};
    const json& f = cj.at("fsdp");
    ExpectFields(f, where + ".fsdp", {"unit_pattern", "layers_per_unit", "reshard_after_forward", "prefetch"});
    c.fsdp = {Get<std::string>(f, where + ".fsdp", "unit_pattern"), Get<int64_t>(f, where + ".fsdp", "layers_per_unit"),
              Get<bool>(f, where + ".fsdp", "reshard_after_forward"), Get<bool>(f, where + ".fsdp", "prefetch")};
    c.recompute = ParseRecomputePolicy(Get<std::string>(cj, where, "recompute"));
    c.sp_mode = Get<std::string>(cj, where, "sp_mode");
    c.ep_overlap_chunks = Get<int64_t>(cj, where, "ep_overlap_chunks");
    const json& p = cj.at("precision");
    ExpectFields(p, where + ".precision", {"compute", "params", "reduce"});
    c.precision = {ParseDtype(Get<std::string>(p, where + ".precision", "compute"), where + ".precision.compute"),
                   ParseDtype(Get<std::string>(p, where + ".precision", "params"), where + ".precision.params"),
                   ParseDtype(Get<std::string>(p, where + ".precision", "reduce"), where + ".precision.reduce")};
    c.offload = Get<bool>(cj, where, "offload");
    plan.components.push_back(std::move(c));
  }
  return plan;
}

std::vector<PlanProblem> FindPlanProblems(const Plan& plan, const std::vector<models::PlanSpec>& specs) {
  std::vector<PlanProblem> problems;
  const auto add = [&](const std::string& key, const std::string& message) { problems.push_back({key, message}); };
  if (plan.components.empty()) add("model", "the plan has no component; fix: configure a model");
  if (specs.size() != plan.components.size()) {
    add("model", "internal: " + std::to_string(specs.size()) + " model specs for " +
                     std::to_string(plan.components.size()) + " plan components");
    return problems;
  }
  for (size_t i = 0; i < plan.components.size(); ++i) {
    const ComponentPlan& c = plan.components[i];
    const models::PlanSpec& spec = specs[i];
    const MeshShape shape{static_cast<int>(c.mesh.dp_replicate), static_cast<int>(c.mesh.dp_shard),
                          static_cast<int>(c.mesh.sp), static_cast<int>(c.mesh.ep)};
    if (auto err = ParallelState::Validate(static_cast<int>(plan.world), shape); !err.empty()) add(c.Key("dp_shard"), err);
    if (c.mesh.ep > 1 && spec.num_experts == 0) {
      add(c.Key("ep"), ErrorWithFix(c.Key("ep") + " " + std::to_string(c.mesh.ep) +
                                        " needs a mixture-of-experts model, and " + c.family + " is dense",
                                    "set " + c.Key("ep") + " 1, or use a qwen3_moe model"));
    } else if (auto err = ExpertParallelLayoutError(spec.num_experts, c.mesh.ep); !err.empty()) {
      add(c.Key("ep"), err);
    }
    if (c.mesh.sp > 1 && spec.sp_attention_pattern.empty() && spec.attention_heads > 0) {
      add(c.Key("sp"), ErrorWithFix(c.Key("sp") + " " + std::to_string(c.mesh.sp) + ": component '" + c.name +
                                        "' attends over whole images or clips, which Loom does not split",
                                    "set " + c.Key("sp") + " 1 (its inputs stay whole on every rank)"));
    }
    if (c.mesh.sp > 1 && !spec.sp_attention_pattern.empty()) {
      if (auto err = UlyssesLayoutError(spec.attention_heads, spec.kv_heads, c.mesh.sp); !err.empty()) add(c.Key("sp"), err);
    }
    if (c.sp_mode != "sync" && c.sp_mode != "async") {
      add(c.Key("sp_mode"), ErrorWithFix(c.Key("sp_mode") + " '" + c.sp_mode + "' is not a mode", "use sync or async"));
    }
    if (c.fsdp.layers_per_unit < 1) {
      add(c.Key("fsdp_layers_per_unit"),
          ErrorWithFix("FSDP layers_per_unit " + std::to_string(c.fsdp.layers_per_unit) + " is not positive",
                       "set " + c.Key("fsdp_layers_per_unit") + " to 1 or more"));
    }
    if (c.ep_overlap_chunks < 1) {
      add(c.Key("ep_overlap_chunks"), ErrorWithFix(c.Key("ep_overlap_chunks") + " " +
                                                       std::to_string(c.ep_overlap_chunks) + " is not positive",
                                                   "set it to 1 (no overlap) or more"));
    }
    if (c.fsdp.unit_pattern.empty() && plan.world > 1) {
      add(c.Key("fsdp_layers_per_unit"), ErrorWithFix(c.family + "'s plan spec names no FSDP unit",
                                                      "declare fsdp_unit_pattern in its PlanSpec"));
    }
    if (c.recompute == RecomputePolicy::kSelective && spec.selective_recompute_pattern.empty()) {
      add(c.Key("recompute"), ErrorWithFix(c.Key("recompute") + " selective: component '" + c.name + "' (" + c.family +
                                               ") offers no selective recompute",
                                           "set " + c.Key("recompute") + " none or full"));
    }
    for (auto [dtype, field] : {std::pair{c.precision.params, "param_dtype"}, {c.precision.reduce, "reduce_dtype"}}) {
      if (dtype != at::kFloat && dtype != at::kBFloat16) {
        add(c.Key(field), ErrorWithFix(c.Key(field) + " " + DtypeName(dtype) + " is not supported", "use fp32 or bf16"));
      }
    }
  }
  return problems;
}

void ValidatePlan(const Plan& plan, const std::vector<models::PlanSpec>& specs) {
  const auto problems = FindPlanProblems(plan, specs);
  if (problems.empty()) return;
  if (problems.size() == 1) throw ConfigError(problems[0].message);
  std::string all = "the parallel plan has " + std::to_string(problems.size()) + " problems:";
  for (const auto& p : problems) all += "\n  - " + p.key + ": " + p.message;
  throw ConfigError(all);
}

ParallelState StateOf(const Plan& plan, const ComponentPlan& c) {
  return ParallelState::Create(static_cast<int>(plan.world),
                               {static_cast<int>(c.mesh.dp_replicate), static_cast<int>(c.mesh.dp_shard),
                                static_cast<int>(c.mesh.sp), static_cast<int>(c.mesh.ep)});
}

}  // namespace loom::parallel
