// `loom config [CONFIG] [--print] [--doc] [--section.key VALUE ...]`
// Loads CONFIG (YAML) with dotted overrides, validates it against the schema
// and reports it; --print shows the resolved config as YAML, --doc prints the
// key reference (docs/config.md is this output).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "sdk/cli/commands.h"
#include "sdk/config/load_config.h"
#include "sdk/config/schema.h"

namespace loom::cli {

void AddConfigCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "config",
      "Validate a YAML config with dotted overrides (--train.lr 3e-4); --print shows it resolved");
  auto print = std::make_shared<bool>(false);
  auto doc = std::make_shared<bool>(false);
  cmd->add_flag("--print", *print, "Print the resolved config (defaults included) as YAML");
  cmd->add_flag("--doc", *doc, "Print every key, its type, default and meaning (Markdown)");
  // CONFIG and the --section.key overrides are not declared options: CLI11
  // hands them over in order via remaining(), and SplitConfigArgs sorts them.
  cmd->allow_extras();
  cmd->footer(
      "Arguments:\n  CONFIG             YAML config file (omit to start from the defaults)\n"
      "  --section.key V    override any key after the file, e.g. --train.lr 3e-4,\n"
      "                     --model.path=/x, --model.tie_word_embeddings false");
  cmd->callback([=] {
    if (*doc) {
      std::cout << config::ConfigDocMarkdown();
      *exit_code = 0;
      return;
    }
    // ConfigError propagates to main: "loom: error: ..." and exit 2.
    const config::ConfigArgs args = config::SplitConfigArgs(cmd->remaining());
    const config::LoomConfig cfg = config::LoadConfig(args.path, args.overrides);
    if (*print) {
      std::cout << config::ToYaml(cfg);
    } else {
      std::cout << "config ok: " << (args.path.empty() ? "defaults" : args.path) << " with "
                << args.overrides.size() << " override(s); --print shows it resolved\n";
    }
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(30, AddConfigCommand);

}  // namespace loom::cli
