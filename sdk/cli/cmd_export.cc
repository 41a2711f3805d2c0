// `loom export RUN_OR_DIR_OR_CHECKPOINT --to-hf DIR [--db PATH] [--dtype fp32|bf16]`
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"
#include "ops/base/error.h"
#include "sdk/cli/commands.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/export.h"

namespace loom::cli {
namespace {

namespace fs = std::filesystem;

// A model directory, or the final model of a run in the run store.
std::string ResolveModelDir(const std::string& run_or_dir, const std::string& db) {
  if (fs::is_directory(run_or_dir)) return run_or_dir;
  if (!fs::exists(db)) {
    throw ConfigError(ErrorWithFix("'" + run_or_dir + "' is neither a model directory nor a run (no run store at " + db + ")",
                                   "pass a model directory, or --db with the run store"));
  }
  metrics::RunStore store(db, metrics::RunStore::Mode::kReadOnly);
  const auto run = store.GetRun(run_or_dir);
  for (const auto& e : store.GetEvents(run.id)) {
    if ((e.kind == "export" || e.kind == "checkpoint") && e.message.rfind("model_dir=", 0) == 0) return e.message.substr(10);
  }
  throw ConfigError(ErrorWithFix("run '" + run.name + "' has no saved model (status " +
                                     metrics::RunStatusName(run.status) + ")",
                                 "export a run that completed"));
}

}  // namespace

void AddExportCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "export", "Write a run's, a model directory's or a training checkpoint's weights as a Hugging Face model");
  auto source = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  auto db = std::make_shared<std::string>("runs/loom.sqlite");
  auto dtype = std::make_shared<std::string>("fp32");
  cmd->add_option("RUN_OR_DIR", *source,
                  "Run id or name in the run store, a model directory, or a checkpoint (a step directory, or a "
                  "checkpoints root: its latest)")
      ->required();
  cmd->add_option("--to-hf", *to, "Output directory (config.json + model.safetensors)")->required();
  cmd->add_option("--db", *db, "Run store");
  cmd->add_option("--dtype", *dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  cmd->callback([=] {
    if (fs::is_directory(*source) && train::IsCheckpoint(*source)) {
      std::cout << train::ExportCheckpoint(*source, *to, *dtype == "bf16" ? at::kBFloat16 : at::kFloat) << "\n";
      *exit_code = 0;
      return;
    }
    const std::string dir = ResolveModelDir(*source, *db);
    auto model = models::LoadDecoderLM(dir);
    models::SaveHfModel(*model, *to, *dtype == "bf16" ? at::kBFloat16 : at::kFloat);
    if (fs::exists(fs::path(dir) / "tokenizer.json")) {
      fs::copy_file(fs::path(dir) / "tokenizer.json", fs::path(*to) / "tokenizer.json", fs::copy_options::overwrite_existing);
    }
    std::cout << "exported " << dir << " (" << model->config().NumParameters() << " parameters, " << *dtype
              << ") to " << *to << "\n";
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(50, AddExportCommand);

}  // namespace loom::cli
