// ChatLoader on a chat dataset built from real emoji and speech files: whole
// conversations per row (never cut), labels exactly on the assistant
// replies' tokens, media in placeholder order with the stored token counts,
// the same rows on 1, 2 and 3 data ranks, resumable, overlong samples
// skipped and counted, and a media file that changed named.
#include "sdk/data/chat_loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "sdk/data/chat_dataset.h"
#include "tests/sdk/data/test_assets.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;

ChatBuildOptions Options(const std::string& jsonl, const std::string& out) {
  ChatBuildOptions o;
  o.inputs = {jsonl};
  o.output = out;
  o.chat.audio_start = "<|box_start|>";
  o.chat.audio_pad = "<|object_ref_start|>";
  o.chat.audio_end = "<|box_end|>";
  return o;
}

class ChatLoaderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::TempDir("chat_loader");
    const std::string cmd = "python3 " + std::string(LOOM_SOURCE_DIR) + "/scripts/make_chat_jsonl.py " +
                            std::string(LOOM_SOURCE_DIR) + "/.cache/assets " + dir_ + "/chat.jsonl 12 8 > /dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
    const auto report = BuildChatDataset(tok, Options(dir_ + "/chat.jsonl", dir_ + "/chat"));
    ASSERT_EQ(report.n_skipped, 0);
    ASSERT_EQ(report.n_samples, 12 + 8 + 2);
  }
  static std::string dir_;
};
std::string ChatLoaderTest::dir_;

TEST_F(ChatLoaderTest, RowsHoldWholeConversationsWithTheirLabelsAndMedia) {
  const auto ds = ChatDataset::Open(dir_ + "/chat");
  ChatLoader loader(ds, 128, 3, 7);
  int64_t images = 0, clips = 0, label_tokens = 0, want_labels = 0;
  int64_t fitting = 0;
  for (int64_t d = 0; d < ds.n_docs(); ++d) {
    if (ds.tokens().DocLength(d) > 128) continue;  // skipped by the loader, counted in too_long()
    ++fitting;
    for (const auto& [lo, hi] : ds.sample(d).labels) want_labels += hi - lo;
  }
  const int64_t eos = ds.tokens().info().eos_id;
  for (int step = 0; step < 4; ++step) {
    const auto b = loader.Next();
    const auto& m = b.media;
    const int64_t n_images = m.image_grid_thw.defined() ? m.image_grid_thw.size(0) : 0;
    const int64_t n_clips = m.input_features.defined() ? m.input_features.size(0) : 0;
    images += n_images, clips += n_clips;
    // Placeholder counts equal the media: 4 tokens per 56 x 56 image, the clip rows per clip.
    if (n_images) {
      EXPECT_EQ((b.input_ids == 151655).sum().item<int64_t>(), m.image_grid_thw.prod(1).sum().item<int64_t>() / 4);
      EXPECT_EQ(m.pixel_values.size(1), 3 * 2 * 14 * 14);
    }
    if (n_clips) {
      EXPECT_EQ(m.input_features.sizes(), (std::vector<int64_t>{n_clips, 80, 3000}));
      EXPECT_TRUE((m.feature_lengths > 0).all().item<bool>() && (m.feature_lengths <= 3000).all().item<bool>());
    }
    // Every document in a row is whole: it ends with eos, and positions restart at 0.
    for (int64_t r = 0; r < 3; ++r) {
      for (int64_t t = 0; t < 128; ++t) {
        const int64_t doc = b.doc_ids[r][t].item<int64_t>();
        if (doc < 0) continue;
        const bool last = t + 1 == 128 || b.doc_ids[r][t + 1].item<int64_t>() != doc;
        if (last) EXPECT_EQ(b.input_ids[r][t].item<int64_t>(), eos) << "row " << r << " position " << t;
        if (t == 0 || b.doc_ids[r][t - 1].item<int64_t>() != doc) EXPECT_EQ(b.position_ids[r][t].item<int64_t>(), 0);
      }
    }
    // Labels: the next id where it is a reply's token; the ids they name are text, never placeholders.
    const auto labelled = b.labels != kIgnoreIndex;
    label_tokens += labelled.sum().item<int64_t>();
    EXPECT_TRUE(b.labels.masked_select(labelled).ne(151655).all().item<bool>());
    EXPECT_TRUE(b.labels.masked_select(labelled).eq(b.input_ids.roll(-1, 1).masked_select(labelled)).all().item<bool>());
  }
  EXPECT_GT(images, 3);
  EXPECT_GT(clips, 2);
  EXPECT_GT(label_tokens, 0);
  // One epoch's rows hold every fitting conversation once, so every reply token once.
  ChatLoader once(ds, 128, 1, 7, 0, 1, 1);
  int64_t epoch_labels = 0;
  int64_t docs_seen = 0;
  while (!once.done()) {
    const auto b = once.Next();
    epoch_labels += (b.labels != kIgnoreIndex).sum().item<int64_t>();
    docs_seen += b.doc_ids.max().item<int64_t>() + 1;
  }
  EXPECT_EQ(docs_seen, fitting);
  EXPECT_EQ(once.too_long(), ds.n_docs() - fitting);
  EXPECT_EQ(epoch_labels, want_labels) << "each reply token is a label exactly once per epoch";
}

TEST_F(ChatLoaderTest, DataRanksTogetherSeeOneProcessRowsAndResume) {
  const auto ds = ChatDataset::Open(dir_ + "/chat");
  for (int world : {2, 3}) {
    ChatLoader whole(ds, 96, world, 3);
    std::vector<std::unique_ptr<ChatLoader>> ranks;
    for (int r = 0; r < world; ++r) ranks.push_back(std::make_unique<ChatLoader>(ds, 96, 1, 3, r, world));
    for (int step = 0; step < 5; ++step) {
      const auto all = whole.Next();
      for (int r = 0; r < world; ++r) {
        const auto mine = ranks[static_cast<size_t>(r)]->Next();
        EXPECT_TRUE(mine.input_ids.equal(all.input_ids.slice(0, r, r + 1))) << world << " ranks, step " << step;
        EXPECT_TRUE(mine.labels.equal(all.labels.slice(0, r, r + 1)));
      }
    }
  }
  ChatLoader a(ds, 96, 2, 5), b(ds, 96, 2, 5);
  for (int i = 0; i < 3; ++i) a.Next();
  b.Seek(3);
  const auto x = a.Next(), y = b.Next();
  EXPECT_TRUE(x.input_ids.equal(y.input_ids));
  if (x.media.pixel_values.defined()) EXPECT_TRUE(x.media.pixel_values.equal(y.media.pixel_values));
}

TEST_F(ChatLoaderTest, OverlongSkippedAndChangedFilesNamed) {
  const auto ds = ChatDataset::Open(dir_ + "/chat");
  ChatLoader short_rows(ds, 40, 1, 1);
  EXPECT_GT(short_rows.too_long(), 0) << "conversations longer than 40 tokens are skipped";
  EXPECT_THROW(ChatLoader(ds, 8, 1, 1), ConfigError) << "nothing fits";
  // A media file replaced by a larger image after the build.
  const std::string copy_dir = testing::TempDir("chat_loader_changed");
  const std::string png = copy_dir + "/face.png";
  fs::copy_file(std::string(LOOM_SOURCE_DIR) + "/.cache/assets/emoji/img/google/64/1f600.png", png);
  std::ofstream(copy_dir + "/one.jsonl") << "{\"image\": \"face.png\", \"caption\": \"grinning face\"}\n";
  const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
  BuildChatDataset(tok, Options(copy_dir + "/one.jsonl", copy_dir + "/one"));
  fs::copy_file(std::string(LOOM_SOURCE_DIR) + "/.cache/assets/emoji/img/google/sheets/16.png", png,
                fs::copy_options::overwrite_existing);
  const auto changed = ChatDataset::Open(copy_dir + "/one");
  ChatLoader loader(changed, 64, 1, 1);
  const auto b = loader.Next();  // skipped and counted, not thrown: the trainer applies the threshold
  EXPECT_EQ(b.read.samples, 1);
  EXPECT_EQ(b.read.bad[static_cast<size_t>(BadSample::kChangedFile)], 1);
  EXPECT_NE(b.read.last_bad.find(png + ": now gives"), std::string::npos) << b.read.last_bad;
  EXPECT_TRUE((b.doc_ids == -1).all().item<bool>()) << "the bad sample's positions are padding";
  EXPECT_TRUE((b.labels == kIgnoreIndex).all().item<bool>());
  EXPECT_FALSE(b.media.pixel_values.defined());
}

// Dynamic batching: one row per micro-batch, its cost within the budget and
// its length a multiple of 8; 1, 2 and 3 data ranks share one global order,
// and a position taken on 2 ranks resumes on 3 and 4.
TEST_F(ChatLoaderTest, DynamicBatchesFillTheBudgetAndResumeOnOtherRankCounts) {
  const auto ds = ChatDataset::Open(dir_ + "/chat");
  ChatLoaderOptions o;
  o.packing.max_tokens = 160;
  o.packing.encoder_token_cost = 0.5;
  o.packing.window = 8;
  o.seed = 9;
  o.epochs = 1;
  ChatLoader one(ds, o);
  ASSERT_TRUE(one.dynamic());
  std::vector<PackedBatch> global;
  int64_t docs = 0, used = 0, positions = 0;
  while (!one.done()) {
    auto b = one.Next();
    EXPECT_EQ(b.rows(), 1);
    EXPECT_EQ(b.seq_len() % 8, 0);
    EXPECT_LE(b.seq_len(), 160);
    // The row's cost: LLM positions + 0.5 x encoder positions (4 patches per image token, 2 frames per audio token).
    const int64_t llm = (b.doc_ids >= 0).sum().item<int64_t>();
    const int64_t image_tokens = (b.input_ids == 151655).sum().item<int64_t>();
    const int64_t audio_tokens = b.media.feature_lengths.defined()
                                     ? (b.input_ids == ds.markers().audio_pad).sum().item<int64_t>() : 0;
    EXPECT_LE(llm + (image_tokens * 4 + audio_tokens * 2) / 2, 160);
    EXPECT_GT(llm, 0);
    EXPECT_EQ(b.segments->rows.size(), 1u);
    EXPECT_EQ(b.segments->seq_len, b.seq_len());
    EXPECT_TRUE(b.loss_groups.masked_select(b.doc_ids >= 0).ge(0).all().item<bool>());
    docs += b.doc_ids.max().item<int64_t>() + 1;
    used += llm, positions += b.seq_len();
    global.push_back(std::move(b));
  }
  int64_t fitting = 0;
  for (int64_t d = 0; d < ds.n_docs(); ++d) fitting += ConversationCost(ds, d, 0.5) <= 160 ? 1 : 0;
  EXPECT_EQ(docs, fitting);
  EXPECT_EQ(one.too_long(), ds.n_docs() - fitting);
  EXPECT_GT(static_cast<double>(used) / static_cast<double>(positions), 0.6);
  // The global order over epochs: the first 12 batches of one process.
  auto forever = o;
  forever.epochs = 0;
  ChatLoader endless(ds, forever);
  global.clear();
  for (int i = 0; i < 12; ++i) global.push_back(endless.Next());
  o = forever;
  // W ranks: rank r's k-th batch is global batch k * W + r.
  for (int world : {2, 3}) {
    for (int r = 0; r < world; ++r) {
      auto ro = o;
      ro.data_rank = r, ro.data_world = world;
      ChatLoader rank(ds, ro);
      for (size_t k = 0; k * world + r < 12; ++k) {
        const auto mine = rank.Next();
        EXPECT_TRUE(mine.input_ids.equal(global[k * world + r].input_ids)) << world << " ranks, rank " << r << ", batch " << k;
      }
    }
  }
  // Stop 2 ranks after 3 batches each (global position 6); resume on 3 and on 4 ranks at 6 / W.
  for (int world : {3, 4}) {
    if (6 % world) continue;
    for (int r = 0; r < world; ++r) {
      auto ro = o;
      ro.data_rank = r, ro.data_world = world;
      ChatLoader rank(ds, ro);
      rank.Seek(6 / world);
      const auto next = rank.Next();
      EXPECT_TRUE(next.input_ids.equal(global[6 + r].input_ids)) << "resumed on " << world << " ranks, rank " << r;
    }
  }
}

// Fuzz: 5% of the media files damaged after the build (truncated, bit flips
// in the header, removed). One epoch reads every conversation, skips exactly
// the damaged ones with their reasons, and never crashes; random bit flips
// in the data of further files are either decoded or skipped.
TEST_F(ChatLoaderTest, DamagedFilesAreSkippedByReason) {
  const std::string dir = testing::TempDir("chat_loader_fuzz");
  const std::string cmd = "python3 " + std::string(LOOM_SOURCE_DIR) + "/scripts/make_chat_jsonl.py " +
                          std::string(LOOM_SOURCE_DIR) + "/.cache/assets " + dir + "/src.jsonl 60 40 > /dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  // Private copies of the files, so damage stays here; only pair samples (one file each).
  std::ifstream src(dir + "/src.jsonl");
  std::ofstream out(dir + "/chat.jsonl");
  std::vector<std::string> images, clips;
  for (std::string line; std::getline(src, line);) {
    auto j = nlohmann::json::parse(line);
    if (!j.contains("image") && !j.contains("audio")) continue;
    const std::string key = j.contains("image") ? "image" : "audio";
    const std::string from = j[key];
    const std::string to = dir + "/" + std::to_string(images.size() + clips.size()) + fs::path(from).extension().string();
    fs::copy_file(from, to);
    (key == "image" ? images : clips).push_back(to);
    j[key] = to;
    out << j.dump() << "\n";
  }
  out.close();
  ASSERT_EQ(images.size(), 60u);
  ASSERT_EQ(clips.size(), 40u);
  const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
  ASSERT_EQ(BuildChatDataset(tok, Options(dir + "/chat.jsonl", dir + "/chat")).n_skipped, 0);
  const auto truncate = [](const std::string& path, double keep) {
    fs::resize_file(path, static_cast<uintmax_t>(static_cast<double>(fs::file_size(path)) * keep));
  };
  const auto flip = [](const std::string& path, size_t offset, uint8_t mask) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(static_cast<char>(c ^ mask));
  };
  // 5 of 100 files: 2 PNGs cut to 40%, a PNG signature flipped, a WAV cut inside its header, one removed.
  truncate(images[3], 0.4);
  truncate(images[17], 0.4);
  flip(images[29], 1, 0xFF);
  truncate(clips[5], 0.0);
  std::ofstream(clips[5], std::ios::binary) << "RIFF\x24\x00";
  fs::remove(images[41]);
  // Random bit flips inside the data of 5 more PNGs: decoded or skipped, never a crash.
  std::mt19937 gen(3);
  for (int i : {50, 52, 54, 56, 58}) {
    const auto size = fs::file_size(images[static_cast<size_t>(i)]);
    for (int k = 0; k < 8; ++k) flip(images[static_cast<size_t>(i)], 64 + gen() % (size - 64), static_cast<uint8_t>(1u << (gen() % 8)));
  }
  const auto ds = ChatDataset::Open(dir + "/chat");
  ChatLoader loader(ds, 1024, 2, 4, 0, 1, 1);
  ReadStats total;
  int64_t media_in_batches = 0;
  while (!loader.done()) {
    const auto b = loader.Next();
    total.samples += b.read.samples;
    for (size_t r = 0; r < total.bad.size(); ++r) total.bad[r] += b.read.bad[r];
    media_in_batches += (b.media.image_grid_thw.defined() ? b.media.image_grid_thw.size(0) : 0) +
                        (b.media.input_features.defined() ? b.media.input_features.size(0) : 0);
  }
  EXPECT_EQ(total.samples, 100);
  EXPECT_EQ(total.bad[static_cast<size_t>(BadSample::kMissingFile)], 1);
  EXPECT_EQ(total.bad[static_cast<size_t>(BadSample::kCorruptAudio)], 1);
  const int64_t image_bad = total.bad[static_cast<size_t>(BadSample::kCorruptImage)] +
                            total.bad[static_cast<size_t>(BadSample::kChangedFile)];
  EXPECT_GE(image_bad, 3) << "the two cut PNGs and the flipped signature";
  EXPECT_LE(image_bad, 3 + 5) << "at most the randomly flipped ones besides";
  EXPECT_EQ(total.bad[static_cast<size_t>(BadSample::kTooLong)], 0);
  EXPECT_EQ(media_in_batches, 100 - total.bad_total()) << "every good sample's media reach the batch";
}

}  // namespace
}  // namespace loom::data
