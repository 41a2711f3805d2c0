#include "sdk/data/chat_loader.h"

#include <algorithm>
#include <random>

#include <ATen/ATen.h>

#include "models/audio/audio_encoder.h"
#include "ops/base/error.h"
#include "sdk/data/audio_decode.h"
#include "sdk/data/image_decode.h"

namespace loom::data {

ChatLoader::ChatLoader(const ChatDataset& dataset, int64_t seq_len, int64_t rows_per_batch, uint64_t seed,
                       int data_rank, int data_world, int64_t epochs)
    : dataset_(dataset),
      seq_len_(seq_len),
      rows_per_batch_(rows_per_batch),
      seed_(seed),
      data_rank_(data_rank),
      data_world_(data_world),
      epochs_(epochs) {
  if (seq_len < 2 || rows_per_batch < 1 || data_world < 1 || data_rank < 0 || data_rank >= data_world) {
    throw ConfigError(ErrorWithFix("ChatLoader: seq_len " + std::to_string(seq_len) + ", rows " +
                                       std::to_string(rows_per_batch) + ", data rank " + std::to_string(data_rank) +
                                       " of " + std::to_string(data_world),
                                   "use seq_len >= 2, rows >= 1 and a rank inside the data world"));
  }
  if (Rows(0).empty()) {
    throw ConfigError(ErrorWithFix("no conversation of " + dataset.tokens().prefix() + " fits data.seq_len " +
                                       std::to_string(seq_len),
                                   "raise data.seq_len"));
  }
}

const std::vector<std::vector<int64_t>>& ChatLoader::Rows(int64_t epoch) {
  if (epoch == cached_epoch_) return rows_;
  std::vector<int64_t> order(static_cast<size_t>(dataset_.n_docs()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::mt19937_64 gen(seed_ * 1000003ull + static_cast<uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), gen);
  rows_.clear();
  too_long_ = 0;
  int64_t used = seq_len_;  // forces a new row for the first conversation
  for (int64_t d : order) {
    const int64_t len = dataset_.tokens().DocLength(d);
    if (len > seq_len_) {
      ++too_long_;
      continue;
    }
    if (used + len > seq_len_) {
      rows_.emplace_back();
      used = 0;
    }
    rows_.back().push_back(d);
    used += len;
  }
  cached_epoch_ = epoch;
  return rows_;
}

bool ChatLoader::Locate(int64_t global_row, int64_t* epoch, int64_t* row) {
  // Every epoch has the same number of rows only if the packing does; walk the epochs.
  int64_t e = 0, start = 0;
  while (true) {
    if (epochs_ > 0 && e >= epochs_) return false;
    while (static_cast<int64_t>(row_counts_.size()) <= e) {
      row_counts_.push_back(static_cast<int64_t>(Rows(static_cast<int64_t>(row_counts_.size())).size()));
    }
    const int64_t n = row_counts_[static_cast<size_t>(e)];
    if (global_row < start + n) {
      *epoch = e;
      *row = global_row - start;
      return true;
    }
    start += n;
    ++e;
  }
}

bool ChatLoader::done() const {
  if (epochs_ == 0) return false;
  auto* self = const_cast<ChatLoader*>(this);
  int64_t e = 0, r = 0;
  return !self->Locate((position_ * rows_per_batch_) * data_world_ + data_rank_, &e, &r);
}

PackedBatch ChatLoader::Next() {
  const int64_t b = rows_per_batch_, t = seq_len_;
  PackedBatch batch;
  batch.input_ids = at::full({b, t}, dataset_.tokens().info().eos_id, at::kLong);
  batch.labels = at::full({b, t}, kIgnoreIndex, at::kLong);
  batch.position_ids = at::zeros({b, t}, at::kLong);
  batch.doc_ids = at::full({b, t}, -1, at::kLong);
  std::vector<at::Tensor> pixels, grids, features;
  std::vector<int64_t> lengths;
  auto ids = batch.input_ids.accessor<int64_t, 2>();
  auto labels = batch.labels.accessor<int64_t, 2>();
  auto positions = batch.position_ids.accessor<int64_t, 2>();
  auto docs = batch.doc_ids.accessor<int64_t, 2>();
  for (int64_t j = 0; j < b; ++j) {
    int64_t epoch = 0, row = 0;
    if (!Locate((position_ * b + j) * data_world_ + data_rank_, &epoch, &row)) {
      if (j == 0) throw Error("ChatLoader::Next: the stream has ended (check done())");
      continue;  // the last batch of a finite stream: padding rows
    }
    const std::vector<int64_t> row_docs = Rows(epoch)[static_cast<size_t>(row)];
    int64_t at = 0;
    for (size_t k = 0; k < row_docs.size(); ++k) {
      const int64_t d = row_docs[k];
      const auto tokens = dataset_.tokens().Doc(d);
      const auto& sample = dataset_.sample(d);
      const auto n = static_cast<int64_t>(tokens.size());
      std::vector<uint8_t> trainable(static_cast<size_t>(n), 0);
      for (const auto& [lo, hi] : sample.labels) std::fill(trainable.begin() + lo, trainable.begin() + hi, 1);
      for (int64_t i = 0; i < n; ++i) {
        ids[j][at + i] = tokens[static_cast<size_t>(i)];
        positions[j][at + i] = i;
        docs[j][at + i] = static_cast<int64_t>(k);
        if (i + 1 < n && trainable[static_cast<size_t>(i + 1)]) labels[j][at + i] = tokens[static_cast<size_t>(i + 1)];
      }
      for (const auto& m : sample.media) {
        if (m.kind == MediaKind::kImage) {
          auto image = ProcessQwen2VlImage(DecodeImageFile(m.path), dataset_.image_options());
          if (image.tokens() != m.tokens) {
            throw DataError(ErrorWithFix(m.path + " now gives " + std::to_string(image.tokens()) + " image tokens, the dataset holds " +
                                             std::to_string(m.tokens),
                                         "rebuild the dataset (the file changed since it was built)"));
          }
          pixels.push_back(image.pixel_values);
          grids.push_back(image.grid_thw);
        } else {
          const auto wave = DecodeAudioFile(m.path);
          const auto& o = dataset_.audio_options();
          auto f = WhisperLogMel(Resample(wave.samples, wave.sample_rate, o.sampling_rate), o);
          models::AudioEncoderConfig encoder;
          encoder.model_type = dataset_.audio_encoder();
          const int64_t rows = models::AudioOutputLengths(encoder, at::tensor({f.frames}, at::kLong)).second.item<int64_t>();
          if (rows != m.tokens) {
            throw DataError(ErrorWithFix(m.path + " now gives " + std::to_string(rows) + " audio tokens, the dataset holds " +
                                             std::to_string(m.tokens),
                                         "rebuild the dataset (the file changed since it was built)"));
          }
          features.push_back(f.input_features);
          lengths.push_back(f.frames);
        }
      }
      at += n;
    }
  }
  if (!pixels.empty()) {
    batch.media.pixel_values = at::cat(pixels);
    batch.media.image_grid_thw = at::stack(grids);
  }
  if (!features.empty()) {
    batch.media.input_features = at::stack(features);
    batch.media.feature_lengths = at::tensor(lengths, at::kLong);
  }
  ++position_;
  return batch;
}

}  // namespace loom::data
