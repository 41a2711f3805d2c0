// PackedLoader (see packing.h): every row is computed from its place in the
// token stream, so ranks, batches and Seek need no replay.
#include "sdk/data/packing.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::data {
namespace {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Fisher-Yates with a fixed generator: the same order on every platform
// (std::shuffle's algorithm is implementation-defined).
std::vector<int64_t> Permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  uint64_t state = seed ^ (0x632be59bd9b4e019ULL * static_cast<uint64_t>(epoch + 1));
  for (int64_t i = n - 1; i > 0; --i) {
    const auto bound = static_cast<unsigned __int128>(i + 1);
    const auto j = static_cast<int64_t>((static_cast<unsigned __int128>(SplitMix64(&state)) * bound) >> 64);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

}  // namespace

PackedLoader::PackedLoader(const TokenDataset& dataset, int64_t seq_len, int64_t rows_per_batch, uint64_t seed,
                           int data_rank, int data_world, int64_t epochs)
    : dataset_(dataset),
      seq_len_(seq_len),
      rows_per_batch_(rows_per_batch),
      seed_(seed),
      data_rank_(data_rank),
      data_world_(data_world),
      epochs_(epochs) {
  if (seq_len < 1 || rows_per_batch < 1) {
    throw ConfigError(ErrorWithFix("packing needs seq_len >= 1 and rows_per_batch >= 1, got " +
                                       std::to_string(seq_len) + " and " + std::to_string(rows_per_batch),
                                   "set a positive sequence length and batch size"));
  }
  if (data_world < 1 || data_rank < 0 || data_rank >= data_world) {
    throw ConfigError(ErrorWithFix("data rank " + std::to_string(data_rank) + " is not in [0, data world " +
                                       std::to_string(data_world) + ")",
                                   "pass the rank's dp coordinate and the dp size from the parallel plan"));
  }
  if (epochs < 0) throw ConfigError(ErrorWithFix("epochs is negative", "pass 0 (forever) or a positive count"));
  if (dataset.n_docs() < 1) {
    throw ConfigError(ErrorWithFix("dataset " + dataset.prefix() + " is empty", "rebuild it with loom data build"));
  }
}

const PackedLoader::EpochOrder& PackedLoader::Order(int64_t epoch) {
  for (const auto& o : orders_) {
    if (o.epoch == epoch) return o;
  }
  EpochOrder& o = orders_[next_slot_];
  next_slot_ ^= 1;
  o.epoch = epoch;
  o.docs = Permutation(dataset_.n_docs(), seed_, epoch);
  o.starts.resize(o.docs.size() + 1);
  o.starts[0] = 0;
  for (size_t k = 0; k < o.docs.size(); ++k) o.starts[k + 1] = o.starts[k] + dataset_.DocLength(o.docs[k]);
  return o;
}

void PackedLoader::FillRow(int64_t global_row, int64_t* input, int64_t* label, int64_t* position, int64_t* doc) {
  const int64_t epoch_tokens = dataset_.n_tokens();
  const int64_t stream_end = epochs_ > 0 ? epochs_ * epoch_tokens : INT64_MAX;
  int64_t stream = global_row * seq_len_;  // stream offset of position t
  int64_t t = 0;
  int64_t piece = 0;  // doc_ids within the row
  while (t < seq_len_ && stream < stream_end) {
    const int64_t epoch = stream / epoch_tokens;
    const EpochOrder& order = Order(epoch);
    const int64_t in_epoch = stream % epoch_tokens;
    // k: the document holding stream offset in_epoch.
    const auto k = static_cast<size_t>(
        std::upper_bound(order.starts.begin(), order.starts.end(), in_epoch) - order.starts.begin() - 1);
    const auto tokens = dataset_.Doc(order.docs[k]);
    const int64_t from = in_epoch - order.starts[k];  // first token of the piece
    const int64_t take = std::min<int64_t>(static_cast<int64_t>(tokens.size()) - from, seq_len_ - t);
    for (int64_t i = 0; i < take; ++i) {
      const auto at = static_cast<size_t>(from + i);
      input[t + i] = tokens[at];
      label[t + i] = at + 1 < tokens.size() ? tokens[at + 1] : kIgnoreIndex;
      position[t + i] = i;
      doc[t + i] = piece;
    }
    t += take;
    stream += take;
    ++piece;
  }
  for (; t < seq_len_; ++t) {  // past the end of a finite stream
    input[t] = dataset_.info().eos_id;
    label[t] = kIgnoreIndex;
    position[t] = 0;
    doc[t] = -1;
  }
}

PackedBatch PackedLoader::Next() {
  if (done()) {
    throw Error("PackedLoader over " + dataset_.prefix() + ": all " + std::to_string(epochs_) +
                " epoch(s) consumed at batch " + std::to_string(position_) + "; check done() before Next()");
  }
  const auto opts = at::TensorOptions().dtype(at::kLong);
  PackedBatch batch{at::empty({rows_per_batch_, seq_len_}, opts), at::empty({rows_per_batch_, seq_len_}, opts),
                    at::empty({rows_per_batch_, seq_len_}, opts), at::empty({rows_per_batch_, seq_len_}, opts)};
  int64_t* input = batch.input_ids.data_ptr<int64_t>();
  int64_t* label = batch.labels.data_ptr<int64_t>();
  int64_t* position = batch.position_ids.data_ptr<int64_t>();
  int64_t* doc = batch.doc_ids.data_ptr<int64_t>();
  for (int64_t j = 0; j < rows_per_batch_; ++j) {
    const int64_t global_row = (position_ * rows_per_batch_ + j) * data_world_ + data_rank_;
    const int64_t o = j * seq_len_;
    FillRow(global_row, input + o, label + o, position + o, doc + o);
  }
  batch.segments = std::make_shared<ops::PackedSegments>(ops::SegmentsOf(batch.doc_ids));
  ++position_;
  return batch;
}

bool PackedLoader::done() const {
  if (epochs_ == 0) return false;
  const int64_t first_row = position_ * rows_per_batch_ * data_world_;
  return first_row * seq_len_ >= epochs_ * dataset_.n_tokens();
}

void PackedLoader::Seek(int64_t position) {
  if (position < 0) throw ConfigError(ErrorWithFix("cannot seek to batch " + std::to_string(position), "pass >= 0"));
  position_ = position;
}

int64_t PackedLoader::epoch() const {
  return position_ * rows_per_batch_ * data_world_ * seq_len_ / dataset_.n_tokens();
}

}  // namespace loom::data
