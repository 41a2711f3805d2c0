// PackedLoader: turns a TokenDataset into a deterministic stream of
// PackedBatch micro-batches (sdk/data/batch.h) for causal LM training.
//
// The stream. Each epoch visits every document once, in an order shuffled by
// (seed, epoch); epochs follow each other, so the token stream is
//   epoch 0's documents, epoch 1's documents, ...
// Global row g holds stream tokens [g * seq_len, (g + 1) * seq_len): rows are
// always full, no token is dropped, and a document longer than what is left
// of a row is split, its remainder starting the next row. Within a row:
//   input_ids     the stream tokens;
//   position_ids  0,1,2,... from each document's start in the row — a split
//                 document's remainder is a new document whose positions
//                 restart at 0;
//   doc_ids       0,1,2,... for the documents (or pieces) in the row;
//   labels        the document's next token, also at the last position of a
//                 split piece (its next token opens the next row: the loss
//                 sees the same targets as unsplit training); kIgnoreIndex
//                 (-100) at each document's real last position (its eos),
//                 so no label crosses from one document into another.
// With a finite number of epochs the stream ends; the rest of the last rows
// is padding: input pad_id (= the dataset's eos), label -100, position 0,
// doc -1.
//
// Data parallelism. Global row g belongs to data rank g % data_world; batch b
// of rank r holds global rows (b * rows_per_batch + j) * data_world + r for
// j = 0..rows_per_batch-1. Ranks therefore see disjoint rows, and together,
// batch by batch, exactly the rows one process with rows_per_batch *
// data_world rows per batch would see.
//
// Resuming. position() is the number of batches returned; Seek(p) makes the
// next batch the one that would have followed p batches — in O(n_docs), since
// a row's place in the stream is computed, not replayed.
//
// A loader reads its dataset (which must outlive it) and is not thread-safe;
// use one per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "sdk/data/batch.h"
#include "sdk/data/token_dataset.h"

namespace loom::data {

class PackedLoader : public BatchStream {
 public:
  /// @param[in] dataset         documents to pack; must outlive the loader.
  /// @param[in] seq_len         T, positions per row (>= 1).
  /// @param[in] rows_per_batch  B, rows per batch on this rank (>= 1).
  /// @param[in] seed            shuffling seed; equal seeds give equal streams.
  /// @param[in] data_rank       this rank's index among the data-parallel ranks.
  /// @param[in] data_world      number of data-parallel ranks (>= 1).
  /// @param[in] epochs          epochs to produce; 0 repeats forever.
  /// @throws loom::ConfigError on invalid arguments (message names the fix).
  PackedLoader(const TokenDataset& dataset, int64_t seq_len, int64_t rows_per_batch, uint64_t seed,
               int data_rank = 0, int data_world = 1, int64_t epochs = 0);

  /// The next batch: (B, T) int64 CPU tensors as described above.
  /// @throws loom::Error if done().
  PackedBatch Next() override;

  /// True when a finite stream has no token left for the next batch (on every
  /// rank at the same position). Always false with epochs == 0.
  bool done() const override;

  /// Batches returned so far (after Seek(p): p).
  int64_t position() const override { return position_; }

  /// Continues as if `position` batches had been returned (>= 0).
  void Seek(int64_t position) override;

  /// The epoch the next batch starts in (its first row on rank 0's schedule).
  int64_t epoch() const;

  int64_t seq_len() const { return seq_len_; }
  int64_t rows_per_batch() const { return rows_per_batch_; }

 private:
  // One epoch's document order and the prefix sums of its lengths.
  struct EpochOrder {
    int64_t epoch = -1;
    std::vector<int64_t> docs;    // permutation of [0, n_docs)
    std::vector<int64_t> starts;  // starts[k]: stream offset of docs[k] in the epoch; n_docs + 1 entries
  };
  const EpochOrder& Order(int64_t epoch);
  // Writes global row `global_row` into the T entries at each pointer.
  void FillRow(int64_t global_row, int64_t* input, int64_t* label, int64_t* position, int64_t* doc);

  const TokenDataset& dataset_;
  int64_t seq_len_;
  int64_t rows_per_batch_;
  uint64_t seed_;
  int data_rank_;
  int data_world_;
  int64_t epochs_;
  int64_t position_ = 0;
  EpochOrder orders_[2];  // the two most recently used epochs
  int next_slot_ = 0;
};

}  // namespace loom::data
