// `loom plan --world N [--dp-replicate R] [--dp-shard S] [--sp P] [--ep E]`
#include <iostream>

#include <CLI/CLI.hpp>

#include "parallel/mesh/parallel_state.h"
#include "sdk/cli/commands.h"

namespace loom::cli {

void AddPlanCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("plan", "Validate a parallel layout and print each rank's groups");
  auto world = std::make_shared<int>(1);
  auto shape = std::make_shared<parallel::MeshShape>();
  cmd->add_option("--world", *world, "World size (number of ranks)")->required();
  cmd->add_option("--dp-replicate", shape->dp_replicate, "HSDP replicas");
  cmd->add_option("--dp-shard", shape->dp_shard, "FSDP shard size (default: the rest)");
  cmd->add_option("--sp", shape->sp, "Ulysses sequence-parallel size");
  cmd->add_option("--ep", shape->ep, "Expert-parallel size (carved from dp_shard x sp)");
  cmd->callback([=] {
    // ConfigError propagates to main: "loom: error: ..." and exit 2.
    const auto state = parallel::ParallelState::Create(*world, *shape);
    std::cout << state.Describe();
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(80, AddPlanCommand);

}  // namespace loom::cli
