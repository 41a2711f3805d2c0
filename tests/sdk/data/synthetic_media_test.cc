// AddSyntheticMedia: what it writes into a packed batch, that it is a
// function of each row's tokens (so any layout sees the same media), and
// that the omni model accepts what it writes (placeholder counts match the
// media, for vision-only, audio-only and both).
#include "sdk/data/synthetic_media.h"

#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "models/omni/omni_model.h"
#include "ops/base/error.h"

namespace loom::data {
namespace {

constexpr int64_t kImage = 90, kVideo = 91, kStart = 92, kEnd = 93, kAudio = 94, kRows = 24, kLen = 40;

models::OmniConfig Config(bool vision, bool audio) {
  nlohmann::json c = {{"model_type", "loom_omni"}, {"image_token_id", kImage}, {"video_token_id", kVideo},
                      {"vision_start_token_id", kStart}, {"vision_end_token_id", kEnd}, {"audio_token_id", kAudio}};
  c["components"]["llm"] = {{"model_type", "qwen3"}, {"vocab_size", 100}, {"hidden_size", 16},
                            {"intermediate_size", 24}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                            {"num_key_value_heads", 1}, {"head_dim", 8}, {"tie_word_embeddings", false},
                            {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 1, 1}}}}};
  if (vision) c["components"]["vision"] = {{"depth", 1}, {"embed_dim", 8}, {"hidden_size", 16}, {"num_heads", 2}, {"patch_size", 2}};
  if (audio) {
    c["components"]["audio"] = {{"model_type", "qwen2_audio_encoder"}, {"num_mel_bins", 4}, {"d_model", 8},
                                {"encoder_layers", 1}, {"encoder_attention_heads", 2}, {"encoder_ffn_dim", 8},
                                {"max_source_positions", 8}};
  }
  return models::OmniConfigFromJson(c, "test");
}

// kRows rows of text tokens (ids < 80), two documents each (split at 5 or
// 30), the last 3 positions padding; labels the next token within a document.
PackedBatch TextBatch(uint64_t seed) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  PackedBatch b;
  b.input_ids = at::randint(0, 80, {kRows, kLen}, g, at::kLong);
  b.doc_ids = at::zeros({kRows, kLen}, at::kLong);
  b.labels = at::roll(b.input_ids, -1, 1);
  for (int64_t r = 0; r < kRows; ++r) {
    const int64_t split = r % 2 ? 5 : 30;
    b.doc_ids[r].slice(0, split).fill_(1);
    b.labels[r][split - 1] = kIgnoreIndex;
  }
  b.doc_ids.slice(1, kLen - 3).fill_(-1);
  b.labels.slice(1, kLen - 4).fill_(kIgnoreIndex);
  b.position_ids = at::Tensor();
  return b;
}

TEST(SyntheticMedia, PlacesImagesAndClipsInsideTheLongestDocument) {
  const auto config = Config(true, true);
  PackedBatch b = TextBatch(1);
  const PackedBatch text = TextBatch(1);
  AddSyntheticMedia(&b, config, 7);
  const auto& m = b.media;
  ASSERT_TRUE(m.pixel_values.defined() && m.input_features.defined()) << "24 rows give both kinds";
  const int64_t images = m.image_grid_thw.size(0), clips = m.input_features.size(0);
  EXPECT_GT(images, 2);
  EXPECT_GT(clips, 2);
  EXPECT_LT(images, kRows) << "some rows get no image";
  EXPECT_EQ(m.pixel_values.size(0), m.image_grid_thw.prod(1).sum().item<int64_t>());
  EXPECT_EQ(m.pixel_values.size(1), config.vision->patch_dim());
  EXPECT_EQ(m.input_features.sizes(), (std::vector<int64_t>{clips, 4, 16}));
  // Placeholders: one image_pad per merged patch, one audio_pad per output row.
  const auto merged = m.image_grid_thw.prod(1).sum().item<int64_t>() / config.vision->merge_units();
  EXPECT_EQ((b.input_ids == kImage).sum().item<int64_t>(), merged);
  EXPECT_EQ((b.input_ids == kStart).sum().item<int64_t>(), images);
  EXPECT_EQ((b.input_ids == kEnd).sum().item<int64_t>(), images);
  const auto rows = models::AudioOutputLengths(*config.audio, m.feature_lengths).second;
  EXPECT_EQ((b.input_ids == kAudio).sum().item<int64_t>(), rows.sum().item<int64_t>());
  EXPECT_TRUE((m.feature_lengths == 16).any().item<bool>() && (m.feature_lengths == 9).any().item<bool>())
      << "clips of two lengths";
  const auto short_clips = (m.feature_lengths == 9).nonzero().flatten();
  EXPECT_EQ(m.input_features.index_select(0, short_clips).slice(2, 9).abs().sum().item<double>(), 0.0)
      << "a short clip is silent past its frames";
  // Media are placed in the longest document, never on padding or across a boundary, labels masked there.
  const auto media = (b.input_ids != text.input_ids);
  EXPECT_FALSE(media.logical_and(b.doc_ids < 0).any().item<bool>());
  EXPECT_TRUE(b.labels.masked_select(media).eq(kIgnoreIndex).all().item<bool>());
  EXPECT_TRUE(b.doc_ids.equal(text.doc_ids));
  for (int64_t r = 0; r < kRows; ++r) {
    const auto changed = media[r].nonzero().flatten();
    if (changed.numel() == 0) continue;
    const int64_t first = changed[0].item<int64_t>(), last = changed[-1].item<int64_t>();
    const int64_t doc = r % 2 ? 1 : 0;
    EXPECT_EQ(b.doc_ids[r][first].item<int64_t>(), doc) << "row " << r << ": not the longest document";
    EXPECT_EQ(b.doc_ids[r][last + 1].item<int64_t>(), doc) << "row " << r << ": no text after the media";
    EXPECT_EQ(b.labels[r][first - 1].item<int64_t>(), kIgnoreIndex) << "the label predicting a placeholder";
  }
  // The omni model takes the batch as written (placeholder counts match the media).
  models::OmniModel model(config);
  model.InitWeights(3);
  const auto loss = model.LossSum({b.input_ids, {}, b.doc_ids, b.media}, b.labels, 64);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
}

TEST(SyntheticMedia, AFunctionOfEachRowsTokens) {
  const auto config = Config(true, true);
  PackedBatch whole = TextBatch(2);
  AddSyntheticMedia(&whole, config, 5);
  // Odd rows alone (another rank's micro-batch) get the same ids and clips.
  const auto odd = at::arange(1, kRows, 2);
  PackedBatch part = TextBatch(2);
  part.input_ids = part.input_ids.index_select(0, odd);
  part.labels = part.labels.index_select(0, odd);
  part.doc_ids = part.doc_ids.index_select(0, odd);
  AddSyntheticMedia(&part, config, 5);
  EXPECT_TRUE(part.input_ids.equal(whole.input_ids.index_select(0, odd)));
  EXPECT_TRUE(part.labels.equal(whole.labels.index_select(0, odd)));
  const auto has_audio = (whole.input_ids == kAudio).any(1);
  const auto clip_rows = has_audio.nonzero().flatten();
  const auto odd_clips = (clip_rows % 2 == 1).nonzero().flatten();
  ASSERT_GT(odd_clips.numel(), 0);
  EXPECT_TRUE(part.media.input_features.equal(whole.media.input_features.index_select(0, odd_clips)));
  // Another seed, other media.
  PackedBatch other = TextBatch(2);
  AddSyntheticMedia(&other, config, 6);
  EXPECT_FALSE(other.input_ids.equal(whole.input_ids));
}

TEST(SyntheticMedia, OnlyTheModalitiesTheModelHas) {
  for (const auto& [vision, audio] : {std::pair{true, false}, std::pair{false, true}}) {
    const auto config = Config(vision, audio);
    PackedBatch b = TextBatch(3);
    AddSyntheticMedia(&b, config, 1);
    EXPECT_EQ(b.media.pixel_values.defined(), vision);
    EXPECT_EQ(b.media.input_features.defined(), audio);
    EXPECT_EQ((b.input_ids == kImage).any().item<bool>(), vision);
    EXPECT_EQ((b.input_ids == kAudio).any().item<bool>(), audio);
    models::OmniModel model(config);
    model.InitWeights(3);
    EXPECT_TRUE(std::isfinite(model.LossSum({b.input_ids, {}, b.doc_ids, b.media}, b.labels, 64).item<double>()));
  }
}

TEST(SyntheticMedia, RefusesABatchThatHoldsMedia) {
  PackedBatch b = TextBatch(4);
  AddSyntheticMedia(&b, Config(true, true), 1);
  EXPECT_THROW(AddSyntheticMedia(&b, Config(true, true), 1), Error);
}

}  // namespace
}  // namespace loom::data
