// The `loom` CLI's subcommands. Each Add*Command registers one subcommand on
// the app; its callback stores the exit code in *exit_code.
#pragma once

namespace CLI {
class App;
}

namespace loom::cli {

void AddLaunchCommand(CLI::App& app, int* exit_code);
void AddCommCheckCommand(CLI::App& app, int* exit_code);
void AddPlanCommand(CLI::App& app, int* exit_code);

}  // namespace loom::cli
