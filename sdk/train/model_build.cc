#include "sdk/train/model_build.h"

#include <fstream>

#include "models/core/registry.h"
#include "models/llm/weight_sources.h"
#include "models/omni/omni_model.h"
#include "ops/base/error.h"
#include "sdk/config/schema.h"
#include "sdk/train/model_config.h"

namespace loom::train {
namespace {

nlohmann::json ReadJson(const std::string& file) {
  std::ifstream in(file);
  if (!in) {
    throw ConfigError(ErrorWithFix("cannot read " + file, "point model.path at a model directory or model.config at a config.json"));
  }
  auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw ConfigError(ErrorWithFix(file + " is not a JSON object", "write a Hugging Face config.json there"));
  }
  return j;
}

// An omni config.json decides every component: an architecture key set in
// the Loom config would be silently ignored, so it is an error.
void RefuseArchitectureKeys(const config::ModelConfig& given, const std::string& file) {
  const config::LoomConfig defaults;
  config::LoomConfig set;
  set.model = given;
  for (const auto& key : config::ConfigSchema()) {
    const std::string leaf = key.leaf();
    if (key.section() != "model" || leaf == "path" || leaf == "config") continue;
    if (config::FormatValue(key, set) == config::FormatValue(key, defaults)) continue;
    throw ConfigError(ErrorWithFix(std::string(key.name) + " is set, but " + file +
                                       " is an omni model whose config.json decides every component",
                                   "remove " + std::string(key.name) + " and set it in " + file + " instead"));
  }
}

}  // namespace

std::string ModelConfigFile(const config::ModelConfig& m) {
  if (!m.path.empty() && !m.config.empty()) {
    throw ConfigError(ErrorWithFix("both model.path and model.config are set",
                                   "set model.path to train from its weights, or model.config for random init"));
  }
  if (!m.config.empty()) return m.config;
  return m.path.empty() ? "" : m.path + "/config.json";
}

std::string ModelTypeOf(const config::ModelConfig& m) {
  const std::string file = ModelConfigFile(m);
  if (file.empty()) return m.arch.model_type;
  const auto j = ReadJson(file);
  if (!j.contains("model_type") || !j["model_type"].is_string()) {
    throw ConfigError(ErrorWithFix(file + " has no model_type", "add \"model_type\" (e.g. \"qwen3\" or \"loom_omni\")"));
  }
  return j["model_type"].get<std::string>();
}

bool IsOmni(const config::ModelConfig& m) { return models::IsOmniModelType(ModelTypeOf(m)); }

BuiltModel BuildModel(const config::LoomConfig& cfg, at::Device device) {
  const auto& m = cfg.model;
  const std::string file = ModelConfigFile(m);
  const auto seed = static_cast<uint64_t>(cfg.train.seed);
  BuiltModel out;
  if (!IsOmni(m)) {  // an LLM family: ModelConfigOf checks model.* against config.json
    const auto config = ModelConfigOf(m);
    config.Validate(file.empty() ? "model.*" : file);
    auto llm = std::make_shared<models::DecoderLM>(config, device);
    if (!m.path.empty()) {
      out.source = std::make_unique<models::HfWeightsSource>(m.path, models::ShapesOf(*llm), config.tie_word_embeddings);
    } else {
      out.source = std::make_unique<models::HfInitSource>(config.initializer_range, seed);
    }
    out.model = llm;
  } else {
    RefuseArchitectureKeys(m, file);
    const std::string type = ModelTypeOf(m);
    out.model = models::FindFamily(type).build(ReadJson(file), file, device);
    const auto& omni = static_cast<const models::OmniModel&>(*out.model);
    if (!m.path.empty()) {
      out.source = std::make_unique<models::HfWeightsSource>(m.path, models::ShapesOf(omni),
                                                             omni.config().llm.tie_word_embeddings,
                                                             omni.CheckpointNames(m.path));
    } else if (omni.config().weights_from.empty()) {
      out.source = std::make_unique<models::HfInitSource>(omni.config().llm.initializer_range, seed);
    } else {  // components {"from": DIR}: their weights from DIR, the rest from the seeded init
      auto routed = std::make_unique<models::PrefixRoutedSource>(
          std::make_unique<models::HfInitSource>(omni.config().llm.initializer_range, seed));
      const auto all = models::ShapesOf(omni);
      for (const auto& [component, dir] : omni.config().weights_from) {
        models::ParameterShapes mine;
        for (const auto& entry : all) {
          if (entry.first.rfind(component + ".", 0) == 0) mine.push_back(entry);
        }
        const bool tied = component == "llm" && omni.config().llm.tie_word_embeddings;
        routed->Route(component + ".", std::make_unique<models::HfWeightsSource>(
                                           dir, mine, tied, models::ComponentNamesIn(component, dir)));
        out.origin += (out.origin.empty() ? "" : ", ") + component + " from " + dir;
      }
      out.source = std::move(routed);
      out.origin = "its parts' checkpoints (" + out.origin + ") and HF's random init (seed " +
                   std::to_string(cfg.train.seed) + ") for the rest";
    }
  }
  if (out.origin.empty()) {
    out.origin = m.path.empty() ? "HF's random init (seed " + std::to_string(cfg.train.seed) + ")" : m.path;
  }
  if (device != at::Device(at::kMeta)) models::FillParameters(*out.model, *out.source);
  return out;
}

const models::DecoderLM* FoundationOf(const models::TrainableModel& model) {
  if (const auto* llm = dynamic_cast<const models::DecoderLM*>(&model)) return llm;
  if (const auto* omni = dynamic_cast<const models::OmniModel*>(&model)) return omni->llm.get();
  return nullptr;
}

}  // namespace loom::train
