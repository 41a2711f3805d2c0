// Datasets for the C ABI and the studio: build one (what `loom data build`
// does) and preview how the configured train set packs into micro-batches
// (fixed rows or dynamic batching to data.max_tokens_per_micro_batch),
// read through the very loader the Trainer opens (OpenLoader).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sdk/config/train_config.h"

namespace loom::train {

struct DatasetRequest {
  std::string tokenizer;            // tokenizer.json
  std::vector<std::string> inputs;  // JSONL or text files (chat: conversation JSONL)
  std::string output;               // dataset prefix
  std::string format = "auto";      // auto | jsonl | text | chat
  double eval_fraction = 0.0;       // [0, 1): also write <output>-train / <output>-eval
};

// Builds the dataset; ConfigError / DataError for bad options or files.
// {"prefixes": [...], "docs", "tokens", "skipped", "issues": ["file:line: why", ...],
//  "images"?, "clips"? (chat)}
nlohmann::json BuildDataset(const DatasetRequest& request);

// The first `n_batches` micro-batches of data.train as one process reads
// them: per batch {"rows", "seq_len", "positions" (rows x seq_len),
// "tokens" (non-padding), "label_tokens", "documents", "images", "clips",
// "fill" (tokens / positions)}, and {"kind": "text"|"chat", "dynamic":
// bool, "budget": data.max_tokens_per_micro_batch, "mean_fill"}.
nlohmann::json PreviewBatches(const config::LoomConfig& cfg, int64_t n_batches);

}  // namespace loom::train
