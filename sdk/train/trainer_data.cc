#include "sdk/train/trainer_data.h"

#include <string>

#include "ops/base/error.h"
#include "sdk/data/chat_loader.h"
#include "sdk/data/packing.h"

namespace loom::train {

std::unique_ptr<data::BatchStream> OpenLoader(const config::LoomConfig& cfg, const data::TokenDataset* text,
                                              const data::ChatDataset* chat, bool eval, int data_rank,
                                              int data_world, int64_t image_code_offset) {
  const auto& d = cfg.data;
  const auto seed = eval ? 0 : static_cast<uint64_t>(cfg.train.seed);
  const int64_t epochs = eval ? 1 : 0;
  if (chat) {
    data::ChatLoaderOptions o;
    o.packing.seq_len = d.seq_len;
    o.packing.max_tokens = d.max_tokens_per_micro_batch;
    o.packing.encoder_token_cost = d.encoder_token_cost;
    o.packing.window = d.pack_window;
    o.packing.pack = d.pack;
    o.rows_per_batch = d.micro_batch_size;
    o.pad_to_multiple = d.pad_to_multiple;
    o.seed = seed;
    o.data_rank = data_rank;
    o.data_world = data_world;
    o.epochs = epochs;
    o.image_code_offset = image_code_offset;
    return std::make_unique<data::ChatLoader>(*chat, o);
  }
  const bool budget = d.max_tokens_per_micro_batch > 0;
  return std::make_unique<data::PackedLoader>(*text, budget ? d.max_tokens_per_micro_batch : d.seq_len,
                                              budget ? 1 : d.micro_batch_size, seed, data_rank, data_world, epochs);
}

void ReadTally::Add(const std::vector<data::PackedBatch>& micro, const std::function<double(double)>& sum,
                    bool counts) {
  std::vector<double> local(1 + data::kBadSampleReasons, 0.0);
  for (const auto& b : micro) {
    local[0] += static_cast<double>(b.read.samples);
    for (int r = 0; r < data::kBadSampleReasons; ++r) {
      local[static_cast<size_t>(1 + r)] += static_cast<double>(b.read.bad[static_cast<size_t>(r)]);
    }
    if (!b.read.last_bad.empty()) total_.last_bad = b.read.last_bad;
  }
  for (size_t i = 0; i < local.size(); ++i) {
    const auto v = static_cast<int64_t>(sum(counts ? local[i] : 0.0));
    (i == 0 ? total_.samples : total_.bad[i - 1]) += v;
  }
}

void ReadTally::Check(double limit) const {
  const int64_t bad = total_.bad_total();
  if (bad == 0) return;
  if (limit > 0 && (total_.samples < 20 || static_cast<double>(bad) <= limit * static_cast<double>(total_.samples))) {
    return;
  }
  std::string by_reason;
  for (int r = 0; r < data::kBadSampleReasons; ++r) {
    const auto n = total_.bad[static_cast<size_t>(r)];
    if (n) by_reason += (by_reason.empty() ? "" : ", ") + std::string(data::BadSampleName(r)) + " " + std::to_string(n);
  }
  throw DataError(ErrorWithFix(std::to_string(bad) + " of " + std::to_string(total_.samples) +
                                   " samples read were bad (" + by_reason + "), more than data.max_bad_fraction " +
                                   std::to_string(limit) + " allows; the last: " +
                                   (total_.last_bad.empty() ? "on another data rank" : total_.last_bad),
                               "repair or remove those files and rebuild the dataset (loom data build), or raise "
                               "data.max_bad_fraction"));
}

}  // namespace loom::train
