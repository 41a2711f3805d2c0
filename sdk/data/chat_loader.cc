#include "sdk/data/chat_loader.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include <ATen/ATen.h>

#include "ops/base/error.h"

namespace loom::data {
namespace {

LossGroup GroupOf(const ChatSample& sample) {
  bool image = false, audio = false;
  for (const auto& m : sample.media) (m.kind == MediaKind::kImage ? image : audio) = true;
  return image && audio ? LossGroup::kImageAudio : image ? LossGroup::kImage : audio ? LossGroup::kAudio : LossGroup::kText;
}

// Marks one bad sample in `read`.
void CountBad(ReadStats* read, BadSample reason, const std::string& path, const std::string& why) {
  ++read->bad[static_cast<size_t>(reason)];
  read->last_bad = path + ": " + why;
}

}  // namespace

ChatLoader::ChatLoader(const ChatDataset& dataset, int64_t seq_len, int64_t rows_per_batch, uint64_t seed,
                       int data_rank, int data_world, int64_t epochs)
    : ChatLoader(dataset, [&] {
        ChatLoaderOptions o;
        o.packing.seq_len = seq_len;
        o.rows_per_batch = rows_per_batch;
        o.seed = seed;
        o.data_rank = data_rank;
        o.data_world = data_world;
        o.epochs = epochs;
        return o;
      }()) {}

ChatLoader::ChatLoader(const ChatDataset& dataset, const ChatLoaderOptions& o) : dataset_(dataset), options_(o) {
  const auto& p = o.packing;
  if ((p.max_tokens <= 0 && p.seq_len < 2) || p.max_tokens == 1 || o.rows_per_batch < 1 || o.pad_to_multiple < 1 ||
      o.data_world < 1 || o.data_rank < 0 || o.data_rank >= o.data_world || p.encoder_token_cost < 0) {
    throw ConfigError(ErrorWithFix("ChatLoader: seq_len " + std::to_string(p.seq_len) + ", max tokens " +
                                       std::to_string(p.max_tokens) + ", rows " + std::to_string(o.rows_per_batch) +
                                       ", pad multiple " + std::to_string(o.pad_to_multiple) + ", data rank " +
                                       std::to_string(o.data_rank) + " of " + std::to_string(o.data_world),
                                   "use seq_len (or max tokens) >= 2, rows and pad multiple >= 1, an encoder token "
                                   "cost >= 0 and a rank inside the data world"));
  }
  if (dataset.HasImageOut() && o.image_code_offset <= 0) {
    throw ConfigError(ErrorWithFix(dataset.tokens().prefix() + " has output images (encoded by " +
                                       dataset.image_tokenizer().dir + ") but the model has no image decoder",
                                   "add components.image_out to the model (num_embeddings " +
                                       std::to_string(dataset.image_tokenizer().num_embeddings) + ", num_patches^2 = " +
                                       std::to_string(dataset.image_tokenizer().tokens) + ")"));
  }
  if (Rows(0).empty()) {
    const std::string what = dynamic() ? "data.max_tokens_per_micro_batch " + std::to_string(p.max_tokens)
                                       : "data.seq_len " + std::to_string(p.seq_len);
    throw ConfigError(ErrorWithFix("no conversation of " + dataset.tokens().prefix() + " fits " + what,
                                   dynamic() ? "raise data.max_tokens_per_micro_batch" : "raise data.seq_len"));
  }
  for (const auto& r : Rows(0)) first_epoch_too_long_ += r.too_long;
}

const std::vector<PackedRow>& ChatLoader::Rows(int64_t epoch) {
  if (epoch == cached_epoch_) return rows_;
  std::vector<int64_t> order(static_cast<size_t>(dataset_.n_docs()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::mt19937_64 gen(options_.seed * 1000003ull + static_cast<uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), gen);
  const double encoder_cost = options_.packing.encoder_token_cost;
  rows_ = PackEpoch(
      order, [this](int64_t d) { return dataset_.tokens().DocLength(d); },
      [this, encoder_cost](int64_t d) { return ConversationCost(dataset_, d, encoder_cost); }, options_.packing);
  cached_epoch_ = epoch;
  return rows_;
}

bool ChatLoader::Locate(int64_t global_row, int64_t* epoch, int64_t* row) {
  // Every epoch has the same number of rows only if the packing does; walk the epochs.
  int64_t e = 0, start = 0;
  while (true) {
    if (options_.epochs > 0 && e >= options_.epochs) return false;
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
  if (options_.epochs == 0) return false;
  auto* self = const_cast<ChatLoader*>(this);
  int64_t e = 0, r = 0;
  return !self->Locate((position_ * rows_per_batch()) * options_.data_world + options_.data_rank, &e, &r);
}

bool ChatLoader::AddMedia(int64_t d, std::vector<at::Tensor>* pixels, std::vector<at::Tensor>* grids,
                          std::vector<at::Tensor>* features, std::vector<int64_t>* lengths, ReadStats* read) const {
  std::vector<at::Tensor> p, g, f;
  std::vector<int64_t> l;
  for (const auto& m : dataset_.sample(d).media) {
    const bool image = m.kind == MediaKind::kImage;
    if (!std::filesystem::exists(m.path)) {
      CountBad(read, BadSample::kMissingFile, m.path, "no such file");
      return false;
    }
    int64_t tokens = 0;
    try {
      auto processed = ProcessMedia(m.kind, m.path, dataset_.processing());
      tokens = processed.tokens;
      if (image) {
        p.push_back(processed.pixel_values);
        g.push_back(processed.grid_thw);
      } else {
        f.push_back(processed.input_features);
        l.push_back(processed.frames);
      }
    } catch (const std::exception& e) {
      CountBad(read, image ? BadSample::kCorruptImage : BadSample::kCorruptAudio, m.path, e.what());
      return false;
    }
    if (tokens != m.tokens) {
      CountBad(read, BadSample::kChangedFile, m.path,
               "now gives " + std::to_string(tokens) + (image ? " image" : " audio") + " tokens, the dataset holds " +
                   std::to_string(m.tokens) + " (the file changed since the build: rebuild the dataset)");
      return false;
    }
  }
  pixels->insert(pixels->end(), p.begin(), p.end());
  grids->insert(grids->end(), g.begin(), g.end());
  features->insert(features->end(), f.begin(), f.end());
  lengths->insert(lengths->end(), l.begin(), l.end());
  return true;
}

PackedBatch ChatLoader::Next() {
  const int64_t b = rows_per_batch(), world = options_.data_world;
  // Locate this batch's rows first: a dynamic row's length sets the batch's.
  // Copies: Rows() of another epoch replaces the cache.
  std::vector<PackedRow> held(static_cast<size_t>(b));
  std::vector<bool> present(static_cast<size_t>(b), false);
  for (int64_t j = 0; j < b; ++j) {
    int64_t epoch = 0, row = 0;
    if (!Locate((position_ * b + j) * world + options_.data_rank, &epoch, &row)) {
      if (j == 0) throw Error("ChatLoader::Next: the stream has ended (check done())");
      continue;  // the last batch of a finite stream: padding rows
    }
    held[static_cast<size_t>(j)] = Rows(epoch)[static_cast<size_t>(row)];
    present[static_cast<size_t>(j)] = true;
  }
  int64_t t = options_.packing.seq_len;
  if (dynamic() || !options_.packing.pack) {  // as long as the longest row, rounded up
    int64_t longest = 0;
    for (const auto& r : held) longest = std::max(longest, r.length);
    const int64_t m = options_.pad_to_multiple;
    t = std::max<int64_t>(2, (longest + m - 1) / m * m);
  }
  PackedBatch batch;
  batch.input_ids = at::full({b, t}, dataset_.tokens().info().eos_id, at::kLong);
  batch.labels = at::full({b, t}, kIgnoreIndex, at::kLong);
  batch.position_ids = at::zeros({b, t}, at::kLong);
  batch.doc_ids = at::full({b, t}, -1, at::kLong);
  batch.loss_groups = at::full({b, t}, -1, at::kLong);
  std::vector<at::Tensor> pixels, grids, features;
  std::vector<int64_t> lengths;
  auto ids = batch.input_ids.accessor<int64_t, 2>();
  auto labels = batch.labels.accessor<int64_t, 2>();
  auto positions = batch.position_ids.accessor<int64_t, 2>();
  auto docs = batch.doc_ids.accessor<int64_t, 2>();
  auto groups = batch.loss_groups.accessor<int64_t, 2>();
  for (int64_t j = 0; j < b; ++j) {
    if (!present[static_cast<size_t>(j)]) continue;
    const PackedRow* row = &held[static_cast<size_t>(j)];
    batch.read.bad[static_cast<size_t>(BadSample::kTooLong)] += row->too_long;
    batch.read.samples += row->too_long;
    int64_t at = 0;
    for (size_t k = 0; k < row->docs.size(); ++k) {
      const int64_t d = row->docs[k];
      const auto stored = dataset_.tokens().Doc(d);
      const auto& sample = dataset_.sample(d);
      std::vector<int64_t> tokens(stored.begin(), stored.end());
      for (const auto& image : sample.image_out) {  // placeholders -> the codes' ids
        for (size_t k = 0; k < image.codes.size(); ++k) {
          tokens.at(static_cast<size_t>(image.offset) + k) = options_.image_code_offset + image.codes[k];
        }
      }
      const auto n = static_cast<int64_t>(tokens.size());
      ++batch.read.samples;
      if (!AddMedia(d, &pixels, &grids, &features, &lengths, &batch.read)) {
        at += n;  // a bad sample: its positions stay padding
        continue;
      }
      std::vector<uint8_t> trainable(static_cast<size_t>(n), 0);
      for (const auto& [lo, hi] : sample.labels) std::fill(trainable.begin() + lo, trainable.begin() + hi, 1);
      const auto group = static_cast<int64_t>(GroupOf(sample));
      for (int64_t i = 0; i < n; ++i) {
        ids[j][at + i] = tokens[static_cast<size_t>(i)];
        positions[j][at + i] = i;
        docs[j][at + i] = static_cast<int64_t>(k);
        groups[j][at + i] = group;
        if (i + 1 < n && trainable[static_cast<size_t>(i + 1)]) {
          labels[j][at + i] = tokens[static_cast<size_t>(i + 1)];
          if (!sample.image_out.empty() && labels[j][at + i] >= options_.image_code_offset) {
            groups[j][at + i] = static_cast<int64_t>(LossGroup::kImageOut);
          }
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
  batch.segments = std::make_shared<ops::PackedSegments>(ops::SegmentsOf(batch.doc_ids));
  ++position_;
  return batch;
}

}  // namespace loom::data
