// `loom launch --nproc N -- CMD ...`
#include <CLI/CLI.hpp>

#include "sdk/cli/commands.h"
#include "sdk/runtime/launcher.h"

namespace loom::cli {

void AddLaunchCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("launch", "Start N local ranks of a command and supervise them");
  auto options = std::make_shared<runtime::LaunchOptions>();
  auto hang_s = std::make_shared<double>(20), grace_s = std::make_shared<double>(3);
  cmd->add_option("--nproc", options->nproc, "Number of ranks")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--master-addr", options->master_addr, "Rendezvous address");
  cmd->add_option("--master-port", options->master_port, "Rendezvous port (default: a free one)");
  cmd->add_option("--hang-timeout", *hang_s,
                  "Seconds without a heartbeat before a rank counts as hung (0: off)");
  cmd->add_option("--kill-grace", *grace_s,
                  "Seconds between SIGTERM and SIGKILL when stopping (ranks of `loom train` finish their step and "
                  "write a final checkpoint in it)");
  cmd->add_option("--max-restarts", options->max_restarts,
                  "Restart every rank up to N times when one fails or hangs; `loom train` resumes from its last "
                  "committed checkpoint")
      ->check(CLI::NonNegativeNumber);
  // Not ->required(): Launch itself names the fix when the command is missing.
  cmd->add_option("command", options->command, "The command every rank runs (after --)");
  cmd->callback([=] {
    options->hang_timeout = std::chrono::milliseconds(static_cast<int64_t>(*hang_s * 1000));
    options->kill_grace = std::chrono::milliseconds(static_cast<int64_t>(*grace_s * 1000));
    *exit_code = runtime::Launch(*options);
  });
}

LOOM_REGISTER_COMMAND(10, AddLaunchCommand);

}  // namespace loom::cli
