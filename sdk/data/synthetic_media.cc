#include "sdk/data/synthetic_media.h"

#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "models/audio/audio_encoder.h"
#include "ops/base/error.h"

namespace loom::data {
namespace {

// FNV-1a over the row's tokens, then the seed.
uint64_t RowHash(const int64_t* tokens, int64_t n, uint64_t seed) {
  uint64_t h = 1469598103934665603ull;
  const auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i, v >>= 8) h = (h ^ (v & 0xff)) * 1099511628211ull;
  };
  for (int64_t i = 0; i < n; ++i) mix(static_cast<uint64_t>(tokens[i]));
  mix(seed);
  return h;
}

struct Span {
  int64_t begin = 0, end = 0;  // the row's longest document: positions [begin, end)
};

Span LongestDocument(const int64_t* docs, int64_t n) {
  Span best, cur;
  for (int64_t i = 0; i <= n; ++i) {
    if (i < n && i > cur.begin && docs[i] == docs[cur.begin]) continue;
    if (i > cur.begin && docs[cur.begin] >= 0 && i - cur.begin > best.end - best.begin) best = {cur.begin, i};
    cur.begin = i;
  }
  return best;
}

}  // namespace

void AddSyntheticMedia(PackedBatch* batch, const models::OmniConfig& config, uint64_t seed) {
  if (!batch->media.empty()) throw Error("AddSyntheticMedia: the batch already holds media");
  const int64_t rows = batch->rows(), t = batch->seq_len();
  auto ids = batch->input_ids.contiguous().clone();
  auto labels = batch->labels.contiguous().clone();
  const auto docs = batch->doc_ids.contiguous();
  std::vector<at::Tensor> pixels, grids, features;
  std::vector<int64_t> lengths;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t* row = ids[r].data_ptr<int64_t>();
    int64_t* label = labels[r].data_ptr<int64_t>();
    const uint64_t h = RowHash(row, t, seed);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(h);
    const Span doc = LongestDocument(docs[r].data_ptr<int64_t>(), t);
    int64_t at_pos = doc.begin + 1;  // the next free position
    const auto place = [&](int64_t n, auto write) {
      if (at_pos + n >= doc.end) return false;  // keep one text token after the media
      for (int64_t i = at_pos - 1; i < at_pos + n; ++i) label[i] = kIgnoreIndex;
      write(row + at_pos);
      at_pos += n;
      return true;
    };
    const int kind = static_cast<int>(h & 3);  // 0 none, 1 image, 2 clip, 3 both
    if ((kind & 1) && config.HasVision()) {
      const auto& v = *config.vision;
      const int64_t m = v.spatial_merge_size;
      const int64_t gh = m * (1 + ((h >> 2) & 1)), gw = m * (1 + ((h >> 3) & 1));
      const int64_t n = gh * gw / v.merge_units();
      const bool placed = place(n + 2, [&](int64_t* p) {
        p[0] = config.vision_tokens.vision_start_token_id;
        for (int64_t i = 1; i <= n; ++i) p[i] = config.vision_tokens.image_token_id;
        p[n + 1] = config.vision_end_token_id;
      });
      if (placed) {
        pixels.push_back(at::randn({gh * gw, v.patch_dim()}, gen, at::kFloat));
        grids.push_back(at::tensor({int64_t{1}, gh, gw}, at::kLong));
      }
    }
    if ((kind & 2) && config.HasAudio()) {
      const auto& a = *config.audio;
      const int64_t frames = a.input_frames();
      const int64_t length = ((h >> 4) & 1) ? frames : frames / 2 + 1;
      const int64_t n = models::AudioOutputLengths(a, at::tensor({length}, at::kLong)).second.item<int64_t>();
      const bool placed = n > 0 && place(n, [&](int64_t* p) {
        for (int64_t i = 0; i < n; ++i) p[i] = config.audio_token_id;
      });
      if (placed) {
        auto mel = at::randn({a.num_mel_bins, frames}, gen, at::kFloat);
        mel.narrow(1, length, frames - length).zero_();  // silence past the clip, as a padded feature extractor
        features.push_back(mel);
        lengths.push_back(length);
      }
    }
  }
  batch->input_ids = ids;
  batch->labels = labels;
  if (!pixels.empty()) {
    batch->media.pixel_values = at::cat(pixels);
    batch->media.image_grid_thw = at::stack(grids);
  }
  if (!features.empty()) {
    batch->media.input_features = at::stack(features);
    batch->media.feature_lengths = at::tensor(lengths, at::kLong);
  }
}

}  // namespace loom::data
