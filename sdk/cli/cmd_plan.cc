// `loom plan [CONFIG] --world N [--dp-replicate R] [--dp-shard S] [--sp P] [--ep E] [--memory-budget SIZE]
//            [--media-fraction F] [--json] [--section.key V ...]`
// Without a config: validates the mesh and prints every rank's groups. With a
// config (or dotted overrides): builds the run's Plan with the same function
// `loom train` uses (sdk/train/plan_config.h), validates it in the same
// place, and prints what each component gets and the estimated per-rank
// memory; --memory-budget SIZE also answers the longest row (tokens) whose
// estimate fits SIZE per rank at data.micro_batch_size rows; --json prints
// the Plan value itself and the estimate. Flags override parallel.*. An omni
// model gets a line and an estimate per component (vision, audio, llm);
// --media-fraction F is the share of each row's tokens assumed to be each
// encoder's placeholders (parallel/plan/omni_memory.h).
#include <iostream>

#include <c10/core/Device.h>

#include <CLI/CLI.hpp>

#include "models/llm/decoder_lm.h"
#include "ops/base/error.h"
#include "ops/base/format.h"
#include "parallel/mesh/parallel_state.h"
#include "models/omni/omni_model.h"
#include "parallel/plan/memory_estimate.h"
#include "parallel/plan/omni_memory.h"
#include "sdk/cli/commands.h"
#include "sdk/config/load_config.h"
#include "sdk/train/model_build.h"
#include "sdk/train/model_config.h"
#include "sdk/train/plan_config.h"
#include "sdk/train/plan_report.h"

namespace loom::cli {
namespace {

std::string DescribeComponent(const parallel::ComponentPlan& c, const parallel::ParallelState& state,
                              const models::LlmConfig& model, const config::LoomConfig& cfg) {
  const int sp = state.shape().sp, ep = state.shape().ep;
  std::string s = "plan: FSDP units = " +
                  (c.fsdp.layers_per_unit > 1 ? "every " + std::to_string(c.fsdp.layers_per_unit) +
                                                    " consecutive decoder layers"
                                              : std::string("each decoder layer")) +
                  " (" + c.fsdp.unit_pattern + ") + root (embeddings, norm, head), sharded over " +
                  std::to_string(state.fsdp_size()) + " ranks";
  if (state.shape().dp_replicate > 1) s += ", replicated x" + std::to_string(state.shape().dp_replicate) + " (HSDP)";
  if (sp > 1) {
    s += "; Ulysses SP " + std::to_string(sp) + " (" + c.sp_mode + ", " +
         std::to_string(model.num_attention_heads / sp) + " heads and " +
         std::to_string((cfg.data.seq_len + sp - 1) / sp) + " positions per row on each rank)";
  }
  if (ep > 1) {
    s += "; EP " + std::to_string(ep) + " (" + std::to_string(model.num_experts / ep) +
         " experts per rank, each FSDP-sharded over expert_fsdp " + std::to_string(state.fsdp_size() / ep) + ")";
  }
  s += "; recompute " + parallel::RecomputeName(c.recompute) + "; precision compute " +
       parallel::DtypeName(c.precision.compute) + ", params " + parallel::DtypeName(c.precision.params) +
       ", reduce " + parallel::DtypeName(c.precision.reduce) + (c.offload ? "; CPU offload" : "");
  return s;
}

// An encoder component: its units, mesh, recompute and precision.
std::string DescribeEncoder(const parallel::ComponentPlan& c, const parallel::ParallelState& state,
                            const models::OmniConfig& omni) {
  std::string what = c.name == "vision" ? "each vision block (" : "each audio encoder layer (";
  std::string s = "plan " + c.name + " (" + c.family + ", " +
                  std::to_string(c.name == "vision" ? omni.vision->NumParameters()
                                                     : omni.audio->NumParameters() +
                                                           (omni.audio->d_model + 1) * omni.llm.hidden_size) +
                  " parameters): FSDP units = " + what + c.fsdp.unit_pattern + ") + root, sharded over " +
                  std::to_string(state.fsdp_size()) + " ranks";
  if (state.shape().dp_replicate > 1) s += ", replicated x" + std::to_string(state.shape().dp_replicate) + " (HSDP)";
  s += "; whole images or clips on every rank of a data group (not sequence-split)";
  s += "; recompute " + parallel::RecomputeName(c.recompute) + "; precision compute " +
       parallel::DtypeName(c.precision.compute) + ", params " + parallel::DtypeName(c.precision.params) +
       ", reduce " + parallel::DtypeName(c.precision.reduce) + (c.offload ? "; CPU offload" : "");
  return s;
}

// `loom plan` for an omni model: a line, a mesh and an estimate per component.
void PrintOmniPlan(const config::LoomConfig& cfg, const parallel::Plan& plan, const models::OmniConfig& omni,
                   const std::string& budget, double media_fraction) {
  const auto estimates = parallel::EstimateOmniMemory(omni, plan, cfg.data.seq_len, cfg.data.micro_batch_size, media_fraction);
  int64_t longest = -1, budget_bytes = 0;
  if (!budget.empty()) {
    budget_bytes = parallel::ParseByteSize(budget, "--memory-budget");
    longest = parallel::LongestOmniSeqLenWithin(budget_bytes, omni, plan, cfg.data.micro_batch_size, media_fraction);
  }
  std::cout << "model: " << omni.model_type << ", " << omni.NumParameters() << " parameters in " << plan.components.size()
            << " components\n";
  for (const auto& c : plan.components) {
    const auto state = parallel::StateOf(plan, c);
    std::cout << (c.name == "llm" ? "plan llm (" + omni.llm.model_type + ", " + std::to_string(omni.llm.NumParameters()) +
                                        " parameters): " + DescribeComponent(c, state, omni.llm, cfg).substr(6)
                                  : DescribeEncoder(c, state, omni))
              << "\n";
  }
  std::cout << "build: " << (plan.world > 1 ? "on the meta device; each rank " : "one process ")
            << (cfg.model.path.empty() ? "initialises " : "reads from " + cfg.model.path + "'s safetensors ")
            << (plan.world > 1 ? "only its shards of every component" : "the whole model") << "\n"
            << "per-rank memory (micro-batch " << cfg.data.micro_batch_size << " x " << cfg.data.seq_len
            << " tokens, media fraction " << media_fraction << " per encoder):\n";
  for (const auto& e : estimates) {
    std::cout << " " << e.name << " (" << e.positions << (e.name == "llm" ? " tokens" : e.name == "vision" ? " patches" : " audio positions")
              << " per rank):\n"
              << parallel::DescribeEstimate(e.estimate);
  }
  std::cout << "  total per rank, all components ~" << FormatBytes(parallel::TotalBytes(estimates)) << "\n";
  if (longest == 0) {
    std::cout << "memory budget " << budget << ": not even one token per row fits (the sharded state alone "
              << "exceeds it); shard over more ranks or raise the budget\n";
  } else if (longest > 0) {
    const int64_t sp = plan.Component("llm").mesh.sp;
    std::cout << "memory budget " << budget << ": the longest row that fits is " << longest << " tokens ("
              << (longest + sp - 1) / sp << " per rank after SP " << sp << ", " << cfg.data.micro_batch_size
              << " rows per micro-batch, media fraction " << media_fraction << ")\n";
  }
  for (const auto& c : plan.components) std::cout << c.name << " mesh:\n" << parallel::StateOf(plan, c).Describe();
}

}  // namespace

void AddPlanCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("plan", "Validate a parallel layout; with a config, estimate per-rank memory");
  auto world = std::make_shared<int>(1);
  auto shape = std::make_shared<parallel::MeshShape>();
  auto json = std::make_shared<bool>(false);
  auto budget = std::make_shared<std::string>();
  auto media_fraction = std::make_shared<double>(0.25);
  cmd->add_option("--world", *world, "World size (number of ranks)")->required();
  cmd->add_option("--dp-replicate", shape->dp_replicate, "HSDP replicas");
  cmd->add_option("--dp-shard", shape->dp_shard, "FSDP shard size (default: the rest)");
  cmd->add_option("--sp", shape->sp, "Ulysses sequence-parallel size");
  cmd->add_option("--ep", shape->ep, "Expert-parallel size (carved from dp_shard x sp)");
  cmd->add_option("--memory-budget", *budget, "With a config: the longest sequence that fits this per-rank memory (e.g. 80GiB)");
  cmd->add_option("--media-fraction", *media_fraction,
                  "Omni models: share of each row's tokens assumed to be each encoder's placeholders (default 0.25)");
  cmd->add_flag("--json", *json, "With a config: print the Plan value and the memory estimate as JSON");
  cmd->allow_extras();
  cmd->callback([=] {
    // ConfigError propagates to main: "loom: error: ..." and exit 2.
    const config::ConfigArgs args = config::SplitConfigArgs(cmd->remaining());
    const bool with_config = !args.path.empty() || !args.overrides.empty();
    if (!with_config) {
      if (*json) throw ConfigError(ErrorWithFix("--json needs a config", "pass CONFIG or --section.key overrides"));
      if (!budget->empty()) {
        throw ConfigError(ErrorWithFix("--memory-budget needs a config", "pass CONFIG or --section.key overrides"));
      }
      std::cout << parallel::ParallelState::Create(*world, *shape).Describe();
      *exit_code = 0;
      return;
    }
    config::LoomConfig cfg = config::LoadConfig(args.path, args.overrides);
    if (cmd->count("--dp-replicate")) cfg.parallel.dp_replicate = shape->dp_replicate;
    if (cmd->count("--dp-shard")) cfg.parallel.dp_shard = shape->dp_shard;
    if (cmd->count("--sp")) cfg.parallel.sp = shape->sp;
    if (cmd->count("--ep")) cfg.parallel.ep = shape->ep;
    const bool omni = train::IsOmni(cfg.model);
    if (!omni && cmd->count("--media-fraction")) {
      throw ConfigError(ErrorWithFix("--media-fraction applies to omni models, and this config's model is an LLM",
                                     "drop --media-fraction, or plan an omni model (model.config or model.path)"));
    }
    if (*json) {  // the same report the C ABI and the studio read
      std::cout << train::PlanReport(cfg, {*world, *budget, *media_fraction}).dump(2) << "\n";
      *exit_code = 0;
      return;
    }
    if (omni) {
      const auto built = train::BuildModel(cfg, at::Device(at::kMeta));
      const auto specs = built.model->component_specs();
      const parallel::Plan plan = train::PlanFromConfig(cfg, *world, specs);
      train::ValidatePlanFor(plan, specs);
      PrintOmniPlan(cfg, plan, static_cast<const models::OmniModel&>(*built.model).config(), *budget, *media_fraction);
      *exit_code = 0;
      return;
    }
    const auto model = train::ModelConfigOf(cfg.model);
    model.Validate(cfg.model.path.empty() ? "model.*" : cfg.model.path + "/config.json");
    const parallel::Plan plan = train::PlanFromConfig(cfg, *world);
    train::ValidatePlanFor(plan, model);
    const auto& c = plan.Component("model");
    const auto state = parallel::StateOf(plan, c);
    const auto estimate = parallel::EstimateMemory(model, state, c.recompute, cfg.data.seq_len,
                                                   cfg.data.micro_batch_size, c.fsdp.layers_per_unit);
    int64_t longest = -1, budget_bytes = 0;
    if (!budget->empty()) {
      budget_bytes = parallel::ParseByteSize(*budget, "--memory-budget");
      longest = parallel::LongestSeqLenWithin(budget_bytes, model, state, c.recompute, cfg.data.micro_batch_size,
                                              c.fsdp.layers_per_unit);
    }
    std::cout << "model: " << model.model_type << ", " << model.NumParameters() << " parameters, "
              << model.num_hidden_layers << " decoder layers"
              << (model.IsMoe() ? " (" + std::to_string(model.NumSparseLayers()) + " sparse: " +
                                      std::to_string(model.num_experts) + " experts, top-" +
                                      std::to_string(model.num_experts_per_tok) + ")"
                                : "")
              << "\n"
              << DescribeComponent(c, state, model, cfg) << "\n"
              << "build: " << (*world > 1 ? "on the meta device; each rank " : "one process ")
              << (cfg.model.path.empty() ? "initialises " : "reads from " + cfg.model.path + "'s safetensors ")
              << (*world > 1 ? "only its shards" : "the whole model") << "\n"
              << "per-rank memory (micro-batch " << cfg.data.micro_batch_size << " x " << cfg.data.seq_len
              << " tokens):\n"
              << parallel::DescribeEstimate(estimate);
    if (longest == 0) {
      std::cout << "memory budget " << *budget << ": not even one token per row fits (the sharded state alone "
                << "exceeds it); shard over more ranks or raise the budget\n";
    } else if (longest > 0) {
      std::cout << "memory budget " << *budget << ": the longest row that fits is " << longest << " tokens ("
                << (longest + state.shape().sp - 1) / state.shape().sp << " per rank after SP " << state.shape().sp
                << ", " << cfg.data.micro_batch_size << " rows per micro-batch, recompute "
                << parallel::RecomputeName(c.recompute) << ")\n";
    }
    std::cout << state.Describe();
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(80, AddPlanCommand);

}  // namespace loom::cli
