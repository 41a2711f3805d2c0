// Qwen2-VL's multimodal RoPE against transformers (oracle:
// tests/models/vision_oracle.py make qwen2_vl_mrope): MropePositionIds equals
// get_rope_index exactly on two padded rows mixing text, two images of
// different grids and a two-frame video, and on a packed row (each document
// alone); a Qwen2 decoder with rope_scaling mrope gives HF's logits
// (1e-4) from those positions. Bad placeholder runs and grids are named.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "models/llm/decoder_lm.h"
#include "models/llm/mrope_positions.h"
#include "ops/base/error.h"
#include "ops/rope/rope.h"
#include "tests/testing/oracle.h"

namespace loom {
namespace {

const models::MropeTokens kTokens{100, 101, 102};  // image, video, vision_start (the oracle's)

class MropeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oracle_ = std::make_unique<testing::OracleRef>(testing::OracleScript("vision_oracle.py"), "qwen2_vl_mrope");
    dir_ = oracle_->dir();
  }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  at::Tensor DocIds() {  // 0 where attended, -1 padding
    auto mask = Ref("attention_mask");
    return at::where(mask == 1, at::zeros_like(mask), at::full_like(mask, -1));
  }
  std::string dir_;
  std::unique_ptr<testing::OracleRef> oracle_;
};

TEST_F(MropeTest, PositionIdsEqualGetRopeIndex) {
  auto pos = models::MropePositionIds(Ref("input_ids"), Ref("image_grid_thw"), Ref("video_grid_thw"), kTokens, 2,
                                      DocIds());
  const auto want = Ref("position_ids");
  ASSERT_EQ(pos.sizes(), want.sizes());
  EXPECT_TRUE(at::equal(pos, want)) << pos << "\nwant\n" << want;
}

TEST_F(MropeTest, PackedRowPositionsEachDocumentAlone) {
  const auto lens = Ref("packed_doc_lens");
  const int64_t a = lens[0].item<int64_t>(), b = lens[1].item<int64_t>();
  auto doc_ids = at::cat({at::zeros({1, a}, at::kLong), at::ones({1, b}, at::kLong)}, 1);
  // Document 0 holds the video, document 1 both images.
  auto pos = models::MropePositionIds(Ref("packed_input_ids"), Ref("image_grid_thw"), Ref("video_grid_thw"), kTokens,
                                      2, doc_ids);
  EXPECT_TRUE(at::equal(pos, Ref("packed_position_ids"))) << pos;
}

TEST_F(MropeTest, LogitsMatchAQwen2VlLanguageModel) {
  auto model = models::LoadDecoderLM(dir_ + "/model");
  ASSERT_EQ(model->config().rope_scaling.type, "mrope");
  at::NoGradGuard no_grad;
  auto pos = models::MropePositionIds(Ref("input_ids"), Ref("image_grid_thw"), Ref("video_grid_thw"), kTokens, 2,
                                      DocIds());
  auto logits = model->Logits({Ref("input_ids"), pos, DocIds()});
  const auto valid = Ref("attention_mask").to(at::kBool);
  const auto want = Ref("logits");
  const double diff = (logits.index({valid}) - want.index({valid})).abs().max().item<double>();
  EXPECT_LE(diff, 1e-4);
  // Plain 1-D positions (the t row alone) give other logits: the bound is
  // far below what ignoring the h and w rows would produce.
  auto plain = model->Logits({Ref("input_ids"), pos[0], DocIds()});
  EXPECT_GT((plain.index({valid}) - want.index({valid})).abs().max().item<double>(), 100 * 1e-4);
}

TEST(MropeCosSinTest, EqualRowsAreOneDimensionalRope) {
  const auto inv_freq = ops::InverseFrequencies(16, 10000.0, {});
  auto pos = at::randint(50, {2, 7}, at::kLong);
  auto [c1, s1] = ops::RopeCosSin(pos, inv_freq);
  auto [c3, s3] = ops::MropeCosSin(pos.unsqueeze(0).expand({3, 2, 7}), inv_freq, {2, 3, 3});
  EXPECT_TRUE(at::equal(c1, c3));
  EXPECT_TRUE(at::equal(s1, s3));
}

TEST(MropePositionsTest, MismatchedPlaceholdersAndGridsAreNamed) {
  const auto error_of = [](const at::Tensor& ids, const at::Tensor& grid) {
    try {
      models::MropePositionIds(ids, grid, {}, kTokens, 2);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  const auto grid = at::tensor({1, 4, 6}, at::kLong).view({1, 3});  // 6 placeholders
  auto five = at::tensor({1, 102, 100, 100, 100, 100, 100, 103, 7}, at::kLong).view({1, -1});
  EXPECT_NE(error_of(five, grid).find("image 0 (grid 1x4x6) needs 6 consecutive placeholder tokens at row 0"),
            std::string::npos)
      << error_of(five, grid);
  auto text = at::tensor({1, 2, 3}, at::kLong).view({1, -1});
  EXPECT_NE(error_of(text, grid).find("place 0 of 1 image grids"), std::string::npos) << error_of(text, grid);
  auto two = at::tensor({102, 100, 100, 100, 100, 100, 100, 102, 100}, at::kLong).view({1, -1});
  EXPECT_NE(error_of(two, grid).find("row 0 has more images than image_grid_thw rows (1)"), std::string::npos)
      << error_of(two, grid);
}

}  // namespace
}  // namespace loom
