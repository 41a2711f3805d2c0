#include "sdk/train/data_report.h"

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/dataset_builder.h"
#include "sdk/data/token_dataset.h"
#include "sdk/data/tokenizer.h"
#include "sdk/train/trainer_data.h"

namespace loom::train {

nlohmann::json BuildDataset(const DatasetRequest& r) {
  if (r.inputs.empty()) throw ConfigError(ErrorWithFix("no input files to build a dataset from", "pass one or more JSONL or text files"));
  if (r.output.empty()) throw ConfigError(ErrorWithFix("no output prefix for the dataset", "pass an output prefix, e.g. data/mine"));
  const auto tokenizer = data::Tokenizer::FromFile(r.tokenizer);
  if (r.format == "chat") {
    data::ChatBuildOptions o;
    o.inputs = r.inputs;
    o.output = r.output;
    o.eval_fraction = r.eval_fraction;
    const auto report = data::BuildChatDataset(tokenizer, o);
    return {{"prefixes", report.prefixes}, {"docs", report.n_samples}, {"tokens", report.n_tokens},
            {"skipped", report.n_skipped}, {"issues", report.first_issues}, {"images", report.n_images},
            {"clips", report.n_clips}};
  }
  data::DatasetBuildOptions o;
  o.inputs = r.inputs;
  o.output = r.output;
  o.eval_fraction = r.eval_fraction;
  o.format = data::ParseInputFormat(r.format);
  const auto report = data::BuildTokenDataset(tokenizer, o);
  nlohmann::json issues = nlohmann::json::array();
  for (const auto& i : report.issues) issues.push_back(i.file + (i.line ? ":" + std::to_string(i.line) : "") + ": " + i.reason);
  return {{"prefixes", report.prefixes}, {"docs", report.n_docs}, {"tokens", report.n_tokens},
          {"skipped", report.n_skipped}, {"issues", issues}};
}

nlohmann::json PreviewBatches(const config::LoomConfig& cfg, int64_t n_batches) {
  if (n_batches < 1) throw ConfigError(ErrorWithFix("a preview of " + std::to_string(n_batches) + " batches", "ask for 1 or more"));
  if (cfg.data.train.empty()) throw ConfigError(ErrorWithFix("data.train is empty", "set data.train to a dataset prefix (loom data build)"));
  std::unique_ptr<data::TokenDataset> text;
  std::unique_ptr<data::ChatDataset> chat;
  if (data::ChatDataset::Exists(cfg.data.train)) {
    chat = std::make_unique<data::ChatDataset>(data::ChatDataset::Open(cfg.data.train));
  } else {
    text = std::make_unique<data::TokenDataset>(data::TokenDataset::Open(cfg.data.train));
  }
  // Without a model, image codes are shown after the tokenizer's vocabulary.
  auto loader = OpenLoader(cfg, text.get(), chat.get(), /*eval=*/false, 0, 1,
                           chat ? chat->tokens().info().vocab_size : 0);
  nlohmann::json batches = nlohmann::json::array();
  double fill_sum = 0;
  for (int64_t i = 0; i < n_batches && !loader->done(); ++i) {
    const data::PackedBatch b = loader->Next();
    const at::Tensor docs = b.doc_ids;  // (B, T), -1 on padding
    const int64_t positions = b.rows() * b.seq_len();
    const int64_t tokens = docs.ge(0).sum().item<int64_t>();
    const int64_t documents = (std::get<0>(docs.max(/*dim=*/1)) + 1).clamp_min(0).sum().item<int64_t>();
    const auto count = [](const at::Tensor& grid) { return grid.defined() ? grid.size(0) : int64_t{0}; };
    const double fill = positions ? static_cast<double>(tokens) / static_cast<double>(positions) : 0.0;
    fill_sum += fill;
    batches.push_back({{"rows", b.rows()}, {"seq_len", b.seq_len()}, {"positions", positions}, {"tokens", tokens},
                       {"label_tokens", b.labels.ne(data::kIgnoreIndex).sum().item<int64_t>()}, {"documents", documents},
                       {"images", count(b.media.image_grid_thw) + count(b.media.video_grid_thw)},
                       {"clips", count(b.media.input_features)}, {"fill", fill}});
  }
  return {{"kind", chat ? "chat" : "text"},
          {"dynamic", cfg.data.max_tokens_per_micro_batch > 0},
          {"budget", cfg.data.max_tokens_per_micro_batch},
          {"batches", batches},
          {"mean_fill", batches.empty() ? 0.0 : fill_sum / static_cast<double>(batches.size())}};
}

}  // namespace loom::train
