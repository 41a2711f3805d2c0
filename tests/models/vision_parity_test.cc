// Parity of the Qwen2-VL vision tower with transformers'
// Qwen2VisionTransformerPretrainedModel (oracle: tests/models/vision_oracle.py,
// a tiny random tower): two images of different grid sizes and a two-frame
// video in one batch. Output 1e-4 max-abs; the gradient of every parameter
// and of the patches 1e-4 relative; 10 AdamW steps with clipping, losses
// 1e-5 relative. Also: the tower loads strictly through HfWeightsSource
// (under a prefix, as one component of a checkpoint), exports what it
// loaded, and names bad grids.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>

#include "models/core/parameter_source.h"
#include "models/core/safetensors.h"
#include "models/llm/weight_sources.h"
#include "models/vision/qwen2_vision.h"
#include "ops/base/error.h"
#include "tests/testing/oracle.h"

namespace loom {
namespace {

namespace fs = std::filesystem;
const auto& MaxAbs = testing::MaxAbsDiff;
const auto& Relative = testing::RelativeDiff;

// A tower of `config` whose weights come from `file_or_dir` (tensor names
// `prefix` + parameter name), through the checkpoint reader every model uses.
std::shared_ptr<models::Qwen2VisionTower> LoadTower(const models::Qwen2VisionConfig& config,
                                                    const std::string& file_or_dir, const std::string& prefix) {
  auto tower = std::make_shared<models::Qwen2VisionTower>(config);
  models::HfWeightsSource source(file_or_dir, models::ShapesOf(*tower), /*tied_embeddings=*/false,
                                 models::NameMap::Under(prefix));
  models::FillParameters(*tower, source);
  return tower;
}

// (prefix + name, tensor) for every parameter: what an export writes.
std::vector<std::pair<std::string, at::Tensor>> StateOf(const models::Qwen2VisionTower& tower,
                                                        const std::string& prefix) {
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& p : tower.named_parameters()) state.emplace_back(prefix + p.key(), p.value().detach());
  return state;
}

class VisionParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oracle_ = std::make_unique<testing::OracleRef>(testing::OracleScript("vision_oracle.py"), "qwen2_vision");
  }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  std::shared_ptr<models::Qwen2VisionTower> Load() {
    const std::string config_path = oracle_->dir() + "/model/config.json";
    std::ifstream in(config_path);
    auto config = models::Qwen2VisionConfigFromJson(nlohmann::json::parse(in), config_path);
    return LoadTower(config, oracle_->dir() + "/model", "");
  }
  std::unique_ptr<testing::OracleRef> oracle_;
};

TEST_F(VisionParityTest, OutputMatchesForTwoImagesAndAVideo) {
  auto tower = Load();
  at::NoGradGuard no_grad;
  auto out = tower->forward(Ref("pixel_values"), Ref("grid_thw"));
  const auto want = Ref("output");
  ASSERT_EQ(out.sizes(), want.sizes());  // (24 + 4 + 16) / 4 merged tokens
  EXPECT_LE(MaxAbs(out, want), 1e-4);
  EXPECT_GT(want.abs().max().item<double>(), 0.1) << "a reference this small could not tell a bug";
}

TEST_F(VisionParityTest, EveryGradientMatches) {
  auto tower = Load();
  auto px = Ref("pixel_values").requires_grad_(true);
  (tower->forward(px, Ref("grid_thw")) * Ref("probe")).sum().backward();
  EXPECT_LE(Relative(px.grad(), Ref("grad.pixel_values")), 1e-4);
  int checked = 0;
  for (const auto& p : tower->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_LE(Relative(p.value().grad(), Ref("grad." + p.key())), 1e-4) << p.key();
    ++checked;
  }
  EXPECT_EQ(checked, 31);  // patch_embed + 2 blocks x 12 + merger 6
}

TEST_F(VisionParityTest, TenAdamWStepsMatch) {
  auto tower = Load();
  const auto px = Ref("pixel_values"), grid = Ref("grid_thw"), target = Ref("train_target");
  const auto want = Ref("train_losses");
  const auto got = testing::OracleAdamWLosses(
      tower->parameters(), [&] { return (tower->forward(px, grid) - target).pow(2).mean(); }, want.size(0));
  for (int64_t step = 0; step < want.size(0); ++step) {
    const double w = want[step].item<double>();
    EXPECT_LE(std::abs(got[step] - w), 1e-5 * w) << "step " << step;
  }
  EXPECT_LT(want[want.size(0) - 1].item<double>(), 0.6 * want[0].item<double>()) << "the reference must learn";
}

TEST_F(VisionParityTest, ExportReloadsBitForBitAndLoadingIsStrict) {
  auto tower = Load();
  const fs::path dir = fs::temp_directory_path() / ("loom-vision-export-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // Another component's tensors (outside the prefix) share the file, as in a Qwen2-VL directory.
  auto with_llm = StateOf(*tower, "visual.");
  with_llm.emplace_back("model.embed_tokens.weight", at::ones({8, 4}));
  models::SaveSafetensors((dir / "model.safetensors").string(), with_llm);
  auto again = LoadTower(tower->config(), (dir / "model.safetensors").string(), "visual.");
  for (const auto& p : tower->named_parameters()) {
    EXPECT_TRUE(at::equal(p.value(), again->named_parameters()[p.key()])) << p.key();
  }
  // A missing tensor and a foreign one are named, and nothing is half-loaded.
  auto state = StateOf(*tower, "visual.");
  const auto dropped = state.back().first;
  state.pop_back();
  state.emplace_back("visual.blocks.9.norm1.weight", at::ones({32}));
  models::SaveSafetensors((dir / "bad.safetensors").string(), state);
  auto fresh = std::make_shared<models::Qwen2VisionTower>(tower->config());
  try {
    models::HfWeightsSource source((dir / "bad.safetensors").string(), models::ShapesOf(*fresh), false, models::NameMap::Under("visual."));
    models::FillParameters(*fresh, source);
    ADD_FAILURE() << "a checkpoint without " << dropped << " loaded";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(dropped), std::string::npos) << e.what();
  }
  for (const auto& p : fresh->named_parameters()) EXPECT_EQ(p.value().abs().sum().item<double>(), 0.0) << p.key();
  // A foreign tensor under the prefix alone is named too.
  auto extra = StateOf(*tower, "visual.");
  extra.emplace_back("visual.blocks.9.norm1.weight", at::ones({32}));
  models::SaveSafetensors((dir / "extra.safetensors").string(), extra);
  try {
    LoadTower(tower->config(), (dir / "extra.safetensors").string(), "visual.");
    ADD_FAILURE() << "a checkpoint with visual.blocks.9 loaded into a 2-block tower";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("visual.blocks.9.norm1.weight"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

TEST_F(VisionParityTest, BadGridsAreNamed) {
  auto tower = Load();
  at::NoGradGuard no_grad;
  const auto px = Ref("pixel_values");
  const auto expect_error = [&](const at::Tensor& grid, const std::string& text) {
    try {
      tower->forward(px, grid);
      ADD_FAILURE() << "accepted " << grid;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  expect_error(at::tensor({1, 4, 6, 1, 2, 2}, at::kLong).view({2, 3}), "describes 28 patches but pixel_values has 44");
  expect_error(at::tensor({1, 4, 6, 1, 2, 2, 2, 3, 4}, at::kLong).view({3, 3}), "image 2 has grid (t, h, w) = (2, 3, 4)");
  expect_error(at::tensor({1, 4, 6}, at::kLong), "grid_thw must be (images, 3)");
}

TEST(VisionConfigTest, UnknownKeysAndBadShapesAreNamed) {
  const auto parse = [](const std::string& text) {
    return models::Qwen2VisionConfigFromJson(nlohmann::json::parse(text), "vision.json");
  };
  EXPECT_EQ(parse(R"({"depth": 2, "embed_dim": 32, "num_heads": 4})").head_dim(), 8);
  const auto error_of = [&](const std::string& text) {
    try {
      parse(text);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of(R"({"window_size": 112})").find("unsupported vision key 'window_size'"), std::string::npos);
  EXPECT_NE(error_of(R"({"embed_dim": 30, "num_heads": 4})").find("num_heads 4 does not divide embed_dim 30"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"embed_dim": 24, "num_heads": 4})").find("head_dim 6"), std::string::npos);
  EXPECT_NE(error_of(R"({"hidden_act": "silu"})").find("hidden_act 'silu'"), std::string::npos);
}

}  // namespace
}  // namespace loom
