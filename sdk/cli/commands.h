// The `loom` CLI's subcommands register themselves: each cmd_*.cc file in
// sdk/cli/ defines an adder and registers it with LOOM_REGISTER_COMMAND, and
// main() adds every registered command, ordered by `order`, to the app.
// An adder's callback stores the command's exit code in *exit_code.
#pragma once

#include <vector>

namespace CLI {
class App;
}

namespace loom::cli {

using CommandAdder = void (*)(CLI::App& app, int* exit_code);

struct RegisteredCommand {
  int order;  // position in `loom --help`
  CommandAdder add;
};

std::vector<RegisteredCommand>& CommandRegistry();

struct CommandRegistrar {
  CommandRegistrar(int order, CommandAdder add) { CommandRegistry().push_back({order, add}); }
};

#define LOOM_REGISTER_COMMAND(order, adder) \
  static ::loom::cli::CommandRegistrar loom_command_registrar_##adder(order, adder)

}  // namespace loom::cli
