// The model architecture a Loom config describes.
#pragma once

#include "models/llm/llm_config.h"
#include "sdk/config/train_config.h"

namespace loom::train {

// model.config, model.path's config.json, or the model.* keys (an LLM
// family; omni formats: sdk/train/model_build.h). With a config.json, a model.*
// architecture key set (not at its default) to a value config.json
// contradicts is a ConfigError naming the key, both values and the fix;
// router_aux_loss_coef and output_router_logits, when set, override it.
models::LlmConfig ModelConfigOf(const config::ModelConfig& model);

}  // namespace loom::train
