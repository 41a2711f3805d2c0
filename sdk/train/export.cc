#include "sdk/train/export.h"

#include <filesystem>
#include <sstream>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "sdk/checkpoint/checkpoint.h"
#include "sdk/config/load_config.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/chat_processing.h"
#include "sdk/data/token_dataset.h"
#include "sdk/train/model_build.h"

namespace loom::train {

namespace fs = std::filesystem;

void WriteGenerationFiles(const config::LoomConfig& cfg, const std::string& dataset_tokenizer,
                          const data::ChatProcessing* chat, const std::string& dir,
                          const std::string& image_tokenizer) {
  const std::string tokenizer = cfg.data.tokenizer.empty() ? dataset_tokenizer : cfg.data.tokenizer;
  if (!tokenizer.empty() && fs::exists(tokenizer)) {
    fs::copy_file(tokenizer, fs::path(dir) / "tokenizer.json", fs::copy_options::overwrite_existing);
  }
  if (chat) data::WriteChatProcessing(*chat, (fs::path(dir) / "loom_chat.json").string());
  if (!image_tokenizer.empty() && fs::exists(fs::path(image_tokenizer) / "config.json")) {
    const auto to = fs::path(dir) / "image_tokenizer";
    fs::create_directories(to);
    for (const auto& entry : fs::directory_iterator(image_tokenizer)) {
      const auto name = entry.path().filename().string();
      if (entry.is_regular_file() && (name == "config.json" || name.ends_with(".safetensors"))) {
        fs::copy_file(entry.path(), to / name, fs::copy_options::overwrite_existing);
      }
    }
  }
}

bool IsCheckpoint(const std::string& path) {
  return fs::exists(fs::path(path) / "meta.json") || fs::exists(fs::path(path) / "latest");
}

std::string ExportCheckpoint(const std::string& checkpoint, const std::string& out, at::ScalarType dtype) {
  const std::string dir = checkpoint::Resolve(checkpoint, checkpoint);
  const auto reader = checkpoint::Reader::Open(dir);  // every file verified
  const auto& meta = reader.meta();
  if (meta.config_json.empty()) {
    throw ConfigError(ErrorWithFix(dir + "/meta.json holds no config (written by an older loom)",
                                   "resume it with its config and let the run export, or train again"));
  }
  const config::LoomConfig cfg = config::LoadConfigFromString(meta.config_json, dir + "/meta.json");
  BuiltModel built = BuildModel(cfg, at::Device(at::kMeta));  // names and shapes only
  if (built.model->family() != meta.family || built.model->NumParameters() != meta.num_parameters) {
    throw ConfigError(ErrorWithFix(dir + ": its config builds a " + built.model->family() + " of " +
                                       std::to_string(built.model->NumParameters()) + " parameters, the files hold " +
                                       meta.family + " of " + std::to_string(meta.num_parameters),
                                   "export a checkpoint written by this loom"));
  }
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& p : built.model->named_parameters()) {
    at::Tensor full = at::empty(p.value().sizes(), at::kFloat);
    reader.Fill("param", p.key(), 0, full.view({-1}));
    state.emplace_back(p.key(), dtype == at::kFloat ? full : full.to(dtype));
  }
  built.model->SaveExport(std::move(state), out);
  // The tokenizer and chat processing, from the config's dataset when it is still there.
  std::string dataset_tokenizer;
  std::unique_ptr<data::ChatProcessing> chat;
  std::string image_tokenizer;
  if (data::ChatDataset::Exists(cfg.data.train)) {
    const auto ds = data::ChatDataset::Open(cfg.data.train);
    dataset_tokenizer = ds.tokens().info().tokenizer;
    chat = std::make_unique<data::ChatProcessing>(ds.processing());
    image_tokenizer = ds.image_tokenizer().dir;
  } else if (!cfg.data.train.empty() && fs::exists(cfg.data.train + ".json")) {
    dataset_tokenizer = data::TokenDataset::Open(cfg.data.train).info().tokenizer;
  }
  WriteGenerationFiles(cfg, dataset_tokenizer, chat.get(), out, image_tokenizer);
  std::ostringstream os;
  os << "exported checkpoint " << dir << " (step " << meta.step << ", " << meta.family << ", "
     << meta.num_parameters << " parameters, " << (dtype == at::kFloat ? "fp32" : "bf16") << ") to " << out;
  return os.str();
}

}  // namespace loom::train
