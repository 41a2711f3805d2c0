// `loom checkpoint list ROOT` and `loom checkpoint inspect DIR`: the sharded
// training checkpoints (sdk/checkpoint/checkpoint.h) of a run.
#include <filesystem>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "ops/base/error.h"
#include "sdk/checkpoint/checkpoint.h"
#include "sdk/cli/commands.h"

namespace loom::cli {
namespace {

namespace fs = std::filesystem;

void ListCheckpoints(const std::string& root) {
  const auto dirs = checkpoint::List(root);
  if (dirs.empty()) {
    throw ConfigError(ErrorWithFix("no committed checkpoint under " + root,
                                   "pass run.dir/run.name/checkpoints of a run trained with train.checkpoint_every > 0"));
  }
  std::string latest;
  std::ifstream(fs::path(root) / "latest") >> latest;
  std::cout << "checkpoints under " << root << ":\n";
  for (const auto& dir : dirs) {
    std::ifstream in(fs::path(dir) / "meta.json");
    const auto j = nlohmann::json::parse(in, nullptr, false);
    int64_t bytes = 0;
    if (j.is_object() && j.contains("files")) {
      for (const auto& [name, f] : j["files"].items()) bytes += f.value("bytes", int64_t{0});
    }
    const std::string name = fs::path(dir).filename().string();
    std::cout << "  " << name << "  step " << (j.is_object() ? j.value("step", int64_t{-1}) : -1) << ", "
              << (j.is_object() ? j.value("world", 0) : 0) << " rank file(s), " << bytes / 1024 << " KiB"
              << (name == latest ? "  (latest)" : "") << "\n";
  }
}

void InspectCheckpoint(const std::string& where) {
  const std::string dir = checkpoint::Resolve(where, where);
  const auto reader = checkpoint::Reader::Open(dir);  // verifies every file's size and CRC-32
  const auto& m = reader.meta();
  int64_t values = 0;
  for (const auto& [name, shape] : m.params) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    values += n;
  }
  std::cout << dir << "\n"
            << "  step           " << m.step << "\n"
            << "  saved by       run " << m.run_id << " on " << m.world << " rank(s)\n"
            << "  model          " << m.family << ", " << m.num_parameters << " parameters in " << m.params.size()
            << " tensors (" << values << " values)\n"
            << "  data position  " << m.data_position << " global rows\n"
            << "  AdamW step     " << m.adam_step << "\n"
            << "  files          " << m.world << " rank file(s): sizes and CRC-32 verified\n";
}

}  // namespace

void AddCheckpointCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("checkpoint", "List and inspect sharded training checkpoints");
  cmd->require_subcommand(1);
  auto root = std::make_shared<std::string>();
  auto* list = cmd->add_subcommand("list", "The committed checkpoints under ROOT (run.dir/run.name/checkpoints)");
  list->add_option("ROOT", *root, "Checkpoint root")->required();
  list->callback([=] {
    ListCheckpoints(*root);
    *exit_code = 0;
  });
  auto dir = std::make_shared<std::string>();
  auto* inspect = cmd->add_subcommand("inspect", "One checkpoint (a step directory, or a root's latest): "
                                                 "its step, model, data position; verifies every file");
  inspect->add_option("DIR", *dir, "Step directory or checkpoint root")->required();
  inspect->callback([=] {
    InspectCheckpoint(*dir);
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(55, AddCheckpointCommand);

}  // namespace loom::cli
