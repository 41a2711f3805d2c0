// ChatLoader: packs a conversation dataset (chat_dataset.h) into omni
// training micro-batches (PackedBatch with media), deterministically.
//
// Each epoch visits every conversation once in an order shuffled by (seed,
// epoch) and packs them whole, in that order, into rows of seq_len
// positions (a conversation that does not fit what is left of a row starts
// the next row; one longer than seq_len is skipped and counted: an image or
// clip is never cut between rows). Global row g belongs to data rank
// g % data_world, as PackedLoader's, so ranks together see exactly the rows
// one process with rows_per_batch x data_world rows per batch sees.
//
// Within a row: doc_ids 0, 1, ... per conversation (-1 on padding),
// position_ids restart at each conversation, labels are the next id where
// that id is trainable (an assistant reply's) and in the same conversation,
// else -100. Media: every image of the row's conversations decoded and
// processed (ProcessQwen2VlImage), every clip decoded, resampled to 16 kHz
// and turned into Whisper features, in order; a file that no longer gives
// its stored token count is a DataError naming it.
#pragma once

#include <cstdint>
#include <vector>

#include "sdk/data/batch.h"
#include "sdk/data/chat_dataset.h"

namespace loom::data {

class ChatLoader : public BatchStream {
 public:
  // `dataset` must outlive the loader. epochs 0: forever.
  ChatLoader(const ChatDataset& dataset, int64_t seq_len, int64_t rows_per_batch, uint64_t seed, int data_rank = 0,
             int data_world = 1, int64_t epochs = 0);

  PackedBatch Next() override;
  bool done() const override;
  int64_t position() const override { return position_; }
  void Seek(int64_t position) override { position_ = position; }
  // Conversations skipped for being longer than seq_len, per epoch.
  int64_t too_long() const { return too_long_; }

 private:
  // The rows of one epoch: each a list of documents.
  const std::vector<std::vector<int64_t>>& Rows(int64_t epoch);
  // Global row g -> (epoch, row within it); false past the last epoch.
  bool Locate(int64_t global_row, int64_t* epoch, int64_t* row);

  const ChatDataset& dataset_;
  int64_t seq_len_, rows_per_batch_;
  uint64_t seed_;
  int data_rank_, data_world_;
  int64_t epochs_;
  int64_t position_ = 0;
  int64_t too_long_ = 0;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> row_counts_;  // rows of each epoch packed so far
  std::vector<std::vector<int64_t>> rows_;
};

}  // namespace loom::data
