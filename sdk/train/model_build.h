// The model a config describes, built for training: from model.path (a
// Hugging Face directory with weights), model.config (a config.json built
// with HF's random init seeded by train.seed) or the model.* keys (an LLM).
// Any registry family builds (models/core/registry.h): the LLM families and
// the omni formats (qwen2_vl, qwen2_audio, loom_omni).
#pragma once

#include <memory>
#include <string>

#include <c10/core/Device.h>

#include "models/core/parameter_source.h"
#include "models/core/trainable_model.h"
#include "models/llm/decoder_lm.h"
#include "sdk/config/train_config.h"

namespace loom::train {

struct BuiltModel {
  std::shared_ptr<models::TrainableModel> model;
  // Where its values come from (safetensors or seeded init); sharded
  // construction fills each rank's shards from it.
  std::unique_ptr<models::ParameterSource> source;
  // Where the values come from, for logs: model.path, "HF's random init
  // (seed S)", or each {"from": DIR} component and the rest.
  std::string origin;
};

// The config.json the model comes from: model.config, model.path's, or ""
// (the model.* keys). Both model.path and model.config set is a ConfigError.
std::string ModelConfigFile(const config::ModelConfig& model);

// The registry model_type of the configured model.
std::string ModelTypeOf(const config::ModelConfig& model);

// Whether the configured model is an omni format (its plan has a component
// per encoder and one for the foundation).
bool IsOmni(const config::ModelConfig& model);

// Builds the model on `device`: at::kMeta (shapes only; values come from
// `source` through sharded construction) or the CPU (filled from `source`).
// For an omni format, a model.* architecture key set to anything but its
// default is a ConfigError (config.json decides every component).
BuiltModel BuildModel(const config::LoomConfig& cfg, at::Device device);

// The foundation LLM: the model itself, or an omni model's `llm`; null for
// other families.
const models::DecoderLM* FoundationOf(const models::TrainableModel& model);

}  // namespace loom::train
