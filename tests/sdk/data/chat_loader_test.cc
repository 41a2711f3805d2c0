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
  try {
    loader.Next();
    ADD_FAILURE() << "a changed image was accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(png + " now gives"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace loom::data
