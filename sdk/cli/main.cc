// `loom`: the command-line front end of the SDK. Errors are printed as
// "loom: error: ..." with exit codes 2 (bad input) and 3 (distributed failure).
#include <iostream>

#include <CLI/CLI.hpp>

#include "ops/base/error.h"
#include "sdk/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Loom: train any-to-any models at scale, natively in C++", "loom"};
  app.set_version_flag("--version", std::string("loom ") + LOOM_VERSION_STRING);
  app.require_subcommand(1);
  int exit_code = 0;
  loom::cli::AddLaunchCommand(app, &exit_code);
  loom::cli::AddCommCheckCommand(app, &exit_code);
  loom::cli::AddPlanCommand(app, &exit_code);
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
