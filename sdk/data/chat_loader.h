// ChatLoader: packs a conversation dataset (chat_dataset.h) into omni
// training micro-batches (PackedBatch with media), deterministically.
//
// Each epoch visits every conversation once in an order shuffled by (seed,
// epoch) and packs them whole into rows (chat_packing.h: fixed rows of
// seq_len positions, or dynamic batching: one row per micro-batch filled to
// a token budget, its length rounded up to pad_to_multiple; or, unpacked,
// one conversation per row padded to the batch's longest); an image or
// clip is never cut between rows, and a conversation longer than a row is
// skipped and counted. Global row g belongs to data rank g % data_world, so
// ranks together see exactly the rows one process sees (with
// rows_per_batch x data_world rows per batch), every rank takes the same
// number of micro-batches, and a position is resumable on another number of
// data ranks (Seek(global / new world)): the global order is one.
//
// Within a row: doc_ids 0, 1, ... per conversation (-1 on padding),
// position_ids restart at each conversation, labels are the next id where
// that id is trainable (an assistant reply's) and in the same conversation,
// else -100; loss_groups the conversation's LossGroup; segments the runs of
// doc_ids. Media: every image of the row's conversations decoded and
// processed (ProcessQwen2VlImage), every clip decoded, resampled to 16 kHz
// and turned into Whisper features, in order. Output images: their
// placeholders become the codes' token ids (image_code_offset + code, the
// model's extended vocabulary), so their labels are codes too, in loss
// group kImageOut.
//
// Bad samples: a conversation whose file is missing, does not decode, or no
// longer gives its stored token count (it changed since the build) is
// skipped, its positions left as padding, and counted by reason in the
// batch's ReadStats with "PATH: why"; the trainer applies the threshold.
#pragma once

#include <cstdint>
#include <vector>

#include "sdk/data/batch.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/chat_packing.h"

namespace loom::data {

struct ChatLoaderOptions {
  PackingOptions packing;        // seq_len, or max_tokens for dynamic batching
  int64_t rows_per_batch = 4;    // fixed rows; dynamic batching takes one row per micro-batch
  int64_t pad_to_multiple = 8;   // dynamic batching or no packing: a batch's length rounded up to this
  uint64_t seed = 0;
  int data_rank = 0, data_world = 1;
  int64_t epochs = 0;            // 0: forever
  // Token id of image code 0 (the model's text vocab_size; 0: the model has
  // no image decoder, and a dataset with output images is refused).
  int64_t image_code_offset = 0;
};

class ChatLoader : public BatchStream {
 public:
  // `dataset` must outlive the loader. ConfigError when nothing fits a row.
  ChatLoader(const ChatDataset& dataset, const ChatLoaderOptions& options);
  // Fixed rows of seq_len positions.
  ChatLoader(const ChatDataset& dataset, int64_t seq_len, int64_t rows_per_batch, uint64_t seed, int data_rank = 0,
             int data_world = 1, int64_t epochs = 0);

  PackedBatch Next() override;
  bool done() const override;
  int64_t position() const override { return position_; }
  void Seek(int64_t position) override { position_ = position; }
  // Conversations of the first epoch skipped for being longer than a row.
  int64_t too_long() const { return first_epoch_too_long_; }
  bool dynamic() const { return options_.packing.max_tokens > 0; }

 private:
  const std::vector<PackedRow>& Rows(int64_t epoch);
  // Global row g -> (epoch, row within it); false past the last epoch.
  bool Locate(int64_t global_row, int64_t* epoch, int64_t* row);
  int64_t rows_per_batch() const { return dynamic() ? 1 : options_.rows_per_batch; }
  // Decodes and processes conversation d's media into the lists; false (and
  // `read` counting why) when one is bad.
  bool AddMedia(int64_t d, std::vector<at::Tensor>* pixels, std::vector<at::Tensor>* grids,
                std::vector<at::Tensor>* features, std::vector<int64_t>* lengths, ReadStats* read) const;

  const ChatDataset& dataset_;
  ChatLoaderOptions options_;
  int64_t position_ = 0;
  int64_t first_epoch_too_long_ = 0;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> row_counts_;  // rows of each epoch packed so far
  std::vector<PackedRow> rows_;
};

}  // namespace loom::data
