// `loom`: the command-line front end of the SDK. Errors are printed as
// "loom: error: ..." with exit codes 2 (bad input) and 3 (distributed failure).
#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "ops/base/error.h"
#include "sdk/cli/commands.h"

namespace loom::cli {
std::vector<RegisteredCommand>& CommandRegistry() {
  static std::vector<RegisteredCommand> registry;
  return registry;
}
}  // namespace loom::cli

int main(int argc, char** argv) {
  CLI::App app{"Loom: train any-to-any models at scale, natively in C++", "loom"};
  app.set_version_flag("--version", std::string("loom ") + LOOM_VERSION_STRING);
  app.require_subcommand(1);
  int exit_code = 0;
  auto commands = loom::cli::CommandRegistry();
  std::sort(commands.begin(), commands.end(),
            [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& command : commands) command.add(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const loom::ConfigError& e) {
    std::cerr << "loom: error: " << e.what() << "\n";
    return 2;
  } catch (const loom::DistError& e) {
    std::cerr << "loom: distributed error: " << e.what() << "\n";
    return 3;
  } catch (const std::exception& e) {
    std::cerr << "loom: error: " << e.what() << "\n";
    return 1;
  }
  return exit_code;
}
