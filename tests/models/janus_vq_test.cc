// Janus's VQ image tokenizer, head and aligner against transformers
// (tests/models/janus_oracle.py): identical codes, the straight-through
// latents and their loss, decoded pixels, the encoder's gradients, and the
// generation head's and aligner's outputs; bad configs name the fix.
#include <fstream>
#include <memory>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/core/parameter_source.h"
#include "models/image/janus_vq.h"
#include "models/llm/weight_sources.h"
#include "ops/base/error.h"
#include "tests/testing/oracle.h"

namespace loom {
namespace {

class JanusVqParityTest : public ::testing::Test {
 protected:
  void SetUp() override { oracle_ = std::make_unique<testing::OracleRef>(testing::OracleScript("janus_oracle.py"), "janus_vq"); }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  models::JanusVqConfig Config() {
    const std::string path = oracle_->dir() + "/model/config.json";
    std::ifstream in(path);
    return models::JanusVqConfigFromJson(nlohmann::json::parse(in), path);
  }
  template <typename M>
  void Load(M& module, const std::string& file) {
    models::HfWeightsSource source(oracle_->dir() + "/" + file, models::ShapesOf(module), false);
    models::FillParameters(module, source);
  }
  std::unique_ptr<testing::OracleRef> oracle_;
};

TEST_F(JanusVqParityTest, CodesLatentsLossAndGradientsMatchTransformers) {
  models::JanusVqModel vq(Config());
  vq.LoadFrom(oracle_->dir() + "/model");
  const auto enc = vq.Encode(Ref("pixels"));
  ASSERT_EQ(enc.codes.sizes(), Ref("codes").sizes());
  EXPECT_TRUE(enc.codes.equal(Ref("codes"))) << "codes differ at " << (enc.codes != Ref("codes")).sum().item<int64_t>() << " of 128";
  EXPECT_LE(testing::RelativeDiff(enc.quantized, Ref("quantized")), 1e-5);
  EXPECT_NEAR(enc.loss.item<double>(), Ref("loss").item<double>(), 1e-5 * Ref("loss").item<double>());
  ((enc.quantized * Ref("probe")).sum() + enc.loss).backward();
  EXPECT_LE(testing::RelativeDiff(vq.encoder->conv_in->weight.grad(), Ref("grad_conv_in")), 1e-4);
  EXPECT_LE(testing::RelativeDiff(vq.encoder->conv_out->weight.grad(), Ref("grad_conv_out")), 1e-4);
}

TEST_F(JanusVqParityTest, DecodedPixelsMatchTransformers) {
  models::JanusVqModel vq(Config());
  vq.LoadFrom(oracle_->dir() + "/model");
  at::NoGradGuard no_grad;
  const auto pixels = vq.Decode(Ref("codes"));
  ASSERT_EQ(pixels.sizes(), (std::vector<int64_t>{2, 3, 16, 16}));
  EXPECT_LE(testing::MaxAbsDiff(pixels, Ref("decoded")), 1e-4);
  // A wrong code count is refused with the grid it needs.
  try {
    vq.Decode(at::zeros({1, 10}, at::kLong));
    ADD_FAILURE() << "10 codes decoded on an 8x8 grid";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("pass (B, 64) codes"), std::string::npos) << e.what();
  }
}

TEST_F(JanusVqParityTest, HeadAndAlignerMatchTransformers) {
  const auto c = Config();
  models::JanusVqHead head(c, at::kCPU);
  models::JanusVqAligner aligner(c, at::kCPU);
  Load(head, "head.safetensors");
  Load(aligner, "aligner.safetensors");
  at::NoGradGuard no_grad;
  EXPECT_LE(testing::MaxAbsDiff(head.forward(Ref("hidden")), Ref("head")), 1e-4);
  EXPECT_LE(testing::MaxAbsDiff(aligner.forward(Ref("embeds")), Ref("aligner")), 1e-4);
}

TEST(JanusVqConfigTest, BadChannelsAndTypesNameTheFix) {
  const auto error = [](const nlohmann::json& j) {
    try {
      models::JanusVqConfigFromJson(j, "vq.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(error({{"base_channels", 48}, {"channel_multiplier", {1, 2}}}).find("base_channels 48 x multiplier 1 is not a positive multiple of 32"),
            std::string::npos);
  EXPECT_NE(error({{"embed_dim", "eight"}}).find("vq.json: 'embed_dim' is \"eight\", of the wrong type"), std::string::npos);
  EXPECT_NE(error({{"channel_multiplier", nlohmann::json::array()}}).find("channel_multiplier is empty"), std::string::npos);
  EXPECT_EQ(error(models::JanusVqConfigToJson(models::JanusVqConfig{})), "accepted");
}

}  // namespace
}  // namespace loom
