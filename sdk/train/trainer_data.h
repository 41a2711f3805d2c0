// The Trainer's data side: the batch stream a config asks for, and the
// tally of samples read and bad ones that turns a flood into an error.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "sdk/config/train_config.h"
#include "sdk/data/batch.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/token_dataset.h"

namespace loom::train {

// This data rank's train stream (forever, seeded by train.seed) or held-out
// stream (eval: one epoch, seed 0) over `text` or `chat` (one of them set):
// ChatLoader with fixed rows or dynamic batching for conversations;
// PackedLoader for text, whose documents are cut across rows, so a token
// budget (data.max_tokens_per_micro_batch) is one row of that many positions.
// `image_code_offset`: the token id of image code 0 (ChatLoaderOptions).
std::unique_ptr<data::BatchStream> OpenLoader(const config::LoomConfig& cfg, const data::TokenDataset* text,
                                              const data::ChatDataset* chat, bool eval, int data_rank,
                                              int data_world, int64_t image_code_offset = 0);

// Samples read and bad samples by reason, summed over the data ranks.
class ReadTally {
 public:
  // Adds the micro-batches' ReadStats; `sum` sums a value over every rank,
  // and `counts` is false on ranks repeating another's batches (SP ranks
  // after the first of a group). Collective: every rank calls it.
  void Add(const std::vector<data::PackedBatch>& micro, const std::function<double(double)>& sum, bool counts);
  // DataError naming the counts, the limit and the last bad file once more
  // than max_bad_fraction of the samples read were bad (from the 20th
  // sample on; 0: any bad sample). Every rank decides alike.
  void Check(double max_bad_fraction) const;
  const data::ReadStats& total() const { return total_; }

 private:
  data::ReadStats total_;
};

}  // namespace loom::train
