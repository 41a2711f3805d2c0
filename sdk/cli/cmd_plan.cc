// `loom plan [CONFIG] --world N [--dp-replicate R] [--dp-shard S] [--sp P] [--ep E] [--section.key V ...]`
// Without a config: validates the mesh and prints every rank's groups. With a
// config (or dotted overrides): also what each component gets (FSDP units,
// recompute) and the estimated per-rank memory. Flags override parallel.*.
#include <iostream>

#include <CLI/CLI.hpp>

#include "parallel/mesh/parallel_state.h"
#include "parallel/plan/memory_estimate.h"
#include "parallel/plan/model_layout.h"
#include "sdk/cli/commands.h"
#include "sdk/config/load_config.h"
#include "sdk/train/trainer.h"

namespace loom::cli {

void AddPlanCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("plan", "Validate a parallel layout; with a config, estimate per-rank memory");
  auto world = std::make_shared<int>(1);
  auto shape = std::make_shared<parallel::MeshShape>();
  cmd->add_option("--world", *world, "World size (number of ranks)")->required();
  cmd->add_option("--dp-replicate", shape->dp_replicate, "HSDP replicas");
  cmd->add_option("--dp-shard", shape->dp_shard, "FSDP shard size (default: the rest)");
  cmd->add_option("--sp", shape->sp, "Ulysses sequence-parallel size");
  cmd->add_option("--ep", shape->ep, "Expert-parallel size (carved from dp_shard x sp)");
  cmd->allow_extras();
  cmd->callback([=] {
    // ConfigError propagates to main: "loom: error: ..." and exit 2.
    const config::ConfigArgs args = config::SplitConfigArgs(cmd->remaining());
    const bool with_config = !args.path.empty() || !args.overrides.empty();
    parallel::MeshShape mesh = *shape;
    config::LoomConfig cfg;
    if (with_config) {
      cfg = config::LoadConfig(args.path, args.overrides);
      const auto pick = [&](const char* flag, int given, int64_t from_config) {
        return cmd->count(flag) > 0 ? given : static_cast<int>(from_config);
      };
      mesh.dp_replicate = pick("--dp-replicate", shape->dp_replicate, cfg.parallel.dp_replicate);
      mesh.dp_shard = pick("--dp-shard", shape->dp_shard, cfg.parallel.dp_shard);
      mesh.sp = pick("--sp", shape->sp, cfg.parallel.sp);
      mesh.ep = pick("--ep", shape->ep, cfg.parallel.ep);
    }
    const auto state = parallel::ParallelState::Create(*world, mesh);
    if (with_config) {
      const auto model = train::ModelConfigOf(cfg.model);
      model.Validate(cfg.model.path.empty() ? "model.*" : cfg.model.path + "/config.json");
      const auto recompute = parallel::ParseRecomputePolicy(cfg.parallel.recompute);
      const int sp = state.shape().sp;
      parallel::CheckModelLayout(model, sp, state.shape().ep);
      std::cout << "model: " << model.model_type << ", " << model.NumParameters() << " parameters, "
                << model.num_hidden_layers << " decoder layers"
                << (model.IsMoe() ? " (" + std::to_string(model.NumSparseLayers()) + " sparse: " +
                                        std::to_string(model.num_experts) + " experts, top-" +
                                        std::to_string(model.num_experts_per_tok) + ")"
                                  : "")
                << "\n"
                << "plan: FSDP units = "
                << (cfg.parallel.fsdp_layers_per_unit > 1
                        ? "every " + std::to_string(cfg.parallel.fsdp_layers_per_unit) + " consecutive decoder layers"
                        : std::string("each decoder layer"))
                << " (model.layers.*) + root (embeddings, norm, head), "
                << "sharded over " << state.fsdp_size() << " ranks"
                << (state.shape().dp_replicate > 1 ? ", replicated x" + std::to_string(state.shape().dp_replicate) + " (HSDP)" : "")
                << (sp > 1 ? "; Ulysses SP " + std::to_string(sp) + " (" + cfg.parallel.sp_mode + ", " +
                                 std::to_string(model.num_attention_heads / sp) + " heads and " +
                                 std::to_string((cfg.data.seq_len + sp - 1) / sp) + " positions per row on each rank)"
                           : "")
                << (state.shape().ep > 1 ? "; EP " + std::to_string(state.shape().ep) + " (" +
                                               std::to_string(model.num_experts / state.shape().ep) +
                                               " experts per rank, each FSDP-sharded over expert_fsdp " +
                                               std::to_string(state.fsdp_size() / state.shape().ep) + ")"
                                         : "")
                << "; recompute " << cfg.parallel.recompute << "\n"
                << "build: " << (*world > 1 ? "on the meta device; each rank " : "one process ")
                << (cfg.model.path.empty() ? "initialises " : "reads from " + cfg.model.path + "'s safetensors ")
                << (*world > 1 ? "only its shards" : "the whole model") << "\n"
                << "per-rank memory (micro-batch " << cfg.data.micro_batch_size << " x " << cfg.data.seq_len
                << " tokens):\n"
                << parallel::DescribeEstimate(parallel::EstimateMemory(model, state, recompute, cfg.data.seq_len,
                                                                        cfg.data.micro_batch_size,
                                                                        cfg.parallel.fsdp_layers_per_unit));
    }
    std::cout << state.Describe();
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(80, AddPlanCommand);

}  // namespace loom::cli
