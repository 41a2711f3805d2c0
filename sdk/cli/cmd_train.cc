// `loom train CONFIG [--section.key VALUE ...]`; under `loom launch --nproc N`
// the ranks train one model FSDP/HSDP-sharded (parallel.* keys).
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "ops/base/error.h"
#include "sdk/cli/commands.h"
#include "sdk/config/load_config.h"
#include "sdk/runtime/heartbeat.h"
#include "sdk/runtime/world.h"
#include "sdk/train/trainer.h"
#include "sdk/train/vq_training.h"

namespace loom::cli {

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("train", "Train a model from a YAML config with dotted overrides");
  cmd->allow_extras();
  cmd->footer("Arguments:\n  CONFIG             YAML config (see docs/config.md)\n"
              "  --section.key V    override any key, e.g. --train.steps 50 --train.lr 1e-3\n"
              "  --resume [DIR]     resume from a checkpoint (default: this run's latest; = --train.resume)\n"
              "SIGINT / SIGTERM end the run at the next step boundary (a final checkpoint when\n"
              "train.checkpoint_every > 0); the exit code is then 128 + the signal.");
  cmd->callback([=] {
    // `--resume [DIR|latest]` is `--train.resume` (latest when no value follows).
    std::vector<std::string> rest = cmd->remaining();
    for (size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] != "--resume") continue;
      rest[i] = "--train.resume";
      if (i + 1 == rest.size() || rest[i + 1].rfind("--", 0) == 0) rest.insert(rest.begin() + static_cast<long>(i) + 1, "latest");
    }
    const config::ConfigArgs args = config::SplitConfigArgs(rest);
    config::LoomConfig cfg = config::LoadConfig(args.path, args.overrides);
    // A job restarted by `loom launch --max-restarts` continues from its last committed checkpoint.
    const char* restart = std::getenv("LOOM_RESTART_COUNT");
    if (restart && std::atoi(restart) > 0 && cfg.train.resume.empty()) cfg.train.resume = "auto";
    // An image tokenizer (model_type janus_vqgan) trains in its own loop.
    if (train::IsVqConfig(cfg)) {
      if (runtime::WorldInfoFromEnv().world_size > 1)
        throw ConfigError(ErrorWithFix("the VQ image tokenizer trains in one process", "run `loom train` without `loom launch`"));
      train::RunVqTraining(cfg, std::cout);
      *exit_code = 0;
      return;
    }
    // Under `loom launch` (or torchrun/MPI/Slurm), join the world: FSDP/HSDP.
    auto heartbeat = runtime::Heartbeat::StartFromEnv();
    const auto info = runtime::WorldInfoFromEnv();
    comm::CommunicatorPtr world;
    if (info.world_size > 1) {
      comm::CommOptions options;
      options.timeout = runtime::CommTimeoutFromEnv(std::chrono::seconds(300));
      world = runtime::JoinWorld(info, options);
    }
    const auto result = train::RunTraining(cfg, std::cout, world);
    // Ended by a signal at a step boundary: the conventional 128 + signal, so a
    // launcher or scheduler sees the run did not complete (the store says why).
    *exit_code = result.signal ? 128 + result.signal : 0;
  });
}

LOOM_REGISTER_COMMAND(40, AddTrainCommand);

}  // namespace loom::cli
