// Hugging Face exports: the weights a model directory (`loom generate`,
// transformers) loads, and the files generation needs beside them.
#pragma once

#include <string>

#include <c10/core/ScalarType.h>

#include "sdk/config/train_config.h"

namespace loom::data {
struct ChatProcessing;
}

namespace loom::train {

// Beside an exported model in `dir`: the tokenizer (data.tokenizer, else
// `dataset_tokenizer`, the one the dataset was built with) as
// tokenizer.json and, for conversations (`chat` non-null), the chat template
// and processors as loom_chat.json; with output images, the image
// tokenizer that encoded them (`image_tokenizer`, a janus_vqgan directory)
// as image_tokenizer/, which `loom generate` decodes codes with. A
// tokenizer file or directory that no longer exists is skipped.
void WriteGenerationFiles(const config::LoomConfig& cfg, const std::string& dataset_tokenizer,
                          const data::ChatProcessing* chat, const std::string& dir,
                          const std::string& image_tokenizer = "");

// A training checkpoint (a step directory, or a root whose `latest` names
// one) as a Hugging Face directory `out`: the model is rebuilt from the
// config saved in the checkpoint (shapes only), every parameter is read
// whole from the rank files that hold its slices, in `dtype` (fp32 or bf16),
// plus WriteGenerationFiles when the config's dataset is still there.
// Returns a line describing what was written. ConfigError for a checkpoint
// without a saved config or one that does not verify.
std::string ExportCheckpoint(const std::string& checkpoint, const std::string& out, at::ScalarType dtype);

// True if `path` is a checkpoint step directory or a checkpoint root.
bool IsCheckpoint(const std::string& path);

}  // namespace loom::train
