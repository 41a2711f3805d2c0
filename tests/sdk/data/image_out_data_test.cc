// Output images in the data pipeline: conversations whose assistant turn is
// an image ({"prompt", "target_image"}, or an image part in an assistant
// message) are encoded to codes at build time by an image tokenizer (a Janus
// VQ directory); the loader puts each code c at its placeholders as id
// offset + c, the labels before each code are codes (loss group
// image_out), the image's start and end markers are labels too; datasets
// without an image tokenizer, models without an image decoder and
// unreadable images are refused or skipped naming the fix.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "models/core/safetensors.h"
#include "ops/base/error.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/chat_loader.h"
#include "sdk/data/image_codes.h"
#include "tests/sdk/data/test_assets.h"

namespace loom::data {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kOffset = 151936;  // Qwen3's vocab_size: code c is id kOffset + c

std::string Emoji(const std::string& name) {
  return std::string(LOOM_SOURCE_DIR) + "/.cache/assets/emoji/img/google/64/" + name + ".png";
}

// A random tiny Janus VQ (2 x 2 codes of 16 per 4 x 4 image) saved as a model directory.
std::string MakeVq(const std::string& dir) {
  models::JanusVqConfig c;
  c.num_embeddings = 16, c.embed_dim = 4, c.num_patches = 2, c.latent_channels = 32, c.base_channels = 32;
  c.channel_multiplier = {1, 2}, c.num_res_blocks = 1, c.projection_dim = 8, c.image_token_embed_dim = 8;
  models::JanusVqModel vq(c);
  vq.InitWeights(3);
  fs::create_directories(dir);
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& p : vq.named_parameters()) state.emplace_back(p.key(), p.value().detach());
  models::SaveSafetensorsDir(dir, state);
  std::ofstream(dir + "/config.json") << models::JanusVqConfigToJson(c).dump();
  return dir;
}

class ImageOutDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir("image_out");
    vq_ = MakeVq(dir_ + "/vq");
    std::ofstream(dir_ + "/draw.jsonl")
        << nlohmann::json{{"prompt", "grinning face"}, {"target_image", Emoji("1f600")}}.dump() << "\n"
        << R"({"messages": [{"role": "user", "content": "two hearts"}, {"role": "assistant", "content": [)"
        << R"({"type": "text", "text": "Here:"}, {"type": "image", "image": ")" << Emoji("2764-fe0f") << R"("},)"
        << R"({"type": "image", "image": ")" << Emoji("1f499") << R"("}]}]})" << "\n"
        << nlohmann::json{{"prompt", "broken"}, {"target_image", dir_ + "/missing.png"}}.dump() << "\n";
  }
  ChatBuildOptions Options() {
    ChatBuildOptions o;
    o.inputs = {dir_ + "/draw.jsonl"};
    o.output = dir_ + "/draw";
    o.image_tokenizer = vq_;
    return o;
  }
  std::string dir_, vq_;
};

TEST_F(ImageOutDataTest, CodesAreEncodedAtBuildTimeAndBecomeTheLabels) {
  const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
  const auto report = BuildChatDataset(tok, Options());
  EXPECT_EQ(report.n_samples, 2);
  EXPECT_EQ(report.n_images_out, 3);
  ASSERT_EQ(report.n_skipped, 1);  // the missing target image, named
  EXPECT_NE(report.first_issues.at(0).find("missing.png"), std::string::npos) << report.first_issues.at(0);
  const auto ds = ChatDataset::Open(dir_ + "/draw");
  ASSERT_TRUE(ds.HasImageOut());
  EXPECT_EQ(ds.image_tokenizer().num_embeddings, 16);
  EXPECT_EQ(ds.image_tokenizer().tokens, 4);
  ImageCodec codec(vq_);
  ASSERT_EQ(ds.sample(0).image_out.size(), 1u);
  ASSERT_EQ(ds.sample(1).image_out.size(), 2u);
  EXPECT_EQ(ds.sample(0).image_out[0].codes, codec.Encode(Emoji("1f600")));
  EXPECT_EQ(ds.sample(1).image_out[1].codes, codec.Encode(Emoji("1f499")));
  EXPECT_NE(codec.Encode(Emoji("1f600")), codec.Encode(Emoji("1f499"))) << "the VQ gives every image the same codes";

  ChatLoaderOptions o;
  o.packing.seq_len = 128;
  o.rows_per_batch = 2;
  o.image_code_offset = kOffset;
  o.epochs = 1;
  ChatLoader loader(ds, o);
  const auto b = loader.Next();
  const auto is_code = b.input_ids >= kOffset;
  EXPECT_EQ(is_code.sum().item<int64_t>(), 12);  // 3 images x 4 codes
  EXPECT_EQ((b.input_ids == ds.markers().image_pad).sum().item<int64_t>(), 0) << "a placeholder was left";
  const auto code_labels = b.labels >= kOffset;
  EXPECT_EQ(code_labels.sum().item<int64_t>(), 12);
  // Each code is the label of the position before it, in loss group image_out.
  const auto ids = b.input_ids, labels = b.labels;
  for (int64_t r = 0; r < ids.size(0); ++r) {
    for (int64_t t = 0; t + 1 < ids.size(1); ++t) {
      if (ids[r][t + 1].item<int64_t>() >= kOffset) {
        EXPECT_EQ(labels[r][t].item<int64_t>(), ids[r][t + 1].item<int64_t>());
        EXPECT_EQ(b.loss_groups[r][t].item<int64_t>(), static_cast<int64_t>(LossGroup::kImageOut));
      }
      // The image opens and closes as labels too: vision_start, vision_end are trainable.
      const int64_t next = ids[r][t + 1].item<int64_t>();
      if (next == ds.markers().vision_start || next == ds.markers().vision_end) {
        EXPECT_EQ(labels[r][t].item<int64_t>(), next);
      }
    }
  }
  EXPECT_EQ(std::string(LossGroupName(static_cast<int>(LossGroup::kImageOut))), "image_out");
  // A loader for a model without an image decoder refuses the dataset.
  o.image_code_offset = 0;
  try {
    ChatLoader refused(ds, o);
    FAIL() << "a model without image_out accepted output images";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("add components.image_out"), std::string::npos) << e.what();
  }
}

TEST_F(ImageOutDataTest, OutputImagesWithoutAnImageTokenizerNameTheFlag) {
  const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
  auto o = Options();
  o.image_tokenizer.clear();
  try {
    BuildChatDataset(tok, o);
    FAIL() << "output images were built without an image tokenizer";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--image-tokenizer"), std::string::npos) << e.what();
  }
  o.image_tokenizer = dir_;  // not a VQ directory
  EXPECT_THROW(BuildChatDataset(tok, o), ConfigError);
}

TEST_F(ImageOutDataTest, CodecDecodesToPngs) {
  ImageCodec codec(vq_);
  const auto pixels = codec.Decode(at::tensor({1, 2, 3, 4}, at::kLong).view({1, 4}));
  ASSERT_EQ(pixels.sizes(), (std::vector<int64_t>{1, 3, 4, 4}));
  WritePng(pixels[0], dir_ + "/out.png");
  const auto back = LoadVqImage(dir_ + "/out.png", 4);  // what was written reads back (8-bit rounding)
  EXPECT_LE((back[0] - pixels[0].clamp(-1, 1)).abs().max().item<double>(), 1.0 / 127.5 + 1e-6);
  EXPECT_THROW(WritePng(pixels[0], dir_ + "/no/such/dir/out.png"), Error);
}

}  // namespace
}  // namespace loom::data
