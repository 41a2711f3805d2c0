// Parity of the Whisper-style audio encoders with transformers (oracle:
// tests/models/audio_oracle.py, tiny random models): WhisperEncoder on two
// clips, and Qwen2AudioEncoder on two clips of different lengths (100 and 61
// frames) masked as Qwen2-Audio masks them. Output 1e-4 max-abs; every
// trainable parameter's gradient and the features' 1e-4 relative; the
// position table stays frozen (no gradient), as in HF. Bad inputs and
// configs are named.
#include <gtest/gtest.h>

#include <fstream>

#include <ATen/ATen.h>

#include "models/audio/audio_encoder.h"
#include "models/core/parameter_source.h"
#include "models/llm/weight_sources.h"
#include "ops/base/error.h"
#include "tests/testing/oracle.h"

namespace loom {
namespace {

const auto& MaxAbs = testing::MaxAbsDiff;
const auto& Relative = testing::RelativeDiff;

struct AudioCase {
  const char* what;  // the oracle's model
  int expected_grads;
};
void PrintTo(const AudioCase& c, std::ostream* os) { *os << c.what; }

class AudioParityTest : public ::testing::TestWithParam<AudioCase> {
 protected:
  void SetUp() override {
    oracle_ = std::make_unique<testing::OracleRef>(testing::OracleScript("audio_oracle.py"), GetParam().what);
  }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  bool Masked() const { return std::string(GetParam().what) == "qwen2_audio_encoder"; }
  std::shared_ptr<models::AudioEncoder> Load() {
    const std::string path = oracle_->dir() + "/model/config.json";
    std::ifstream in(path);
    auto encoder = std::make_shared<models::AudioEncoder>(models::AudioEncoderConfigFromJson(nlohmann::json::parse(in), path));
    models::HfWeightsSource source(oracle_->dir() + "/model", models::ShapesOf(*encoder), false);
    models::FillParameters(*encoder, source);
    return encoder;
  }
  at::Tensor Lengths() { return Masked() ? Ref("lengths") : at::Tensor(); }
  std::unique_ptr<testing::OracleRef> oracle_;
};

TEST_P(AudioParityTest, OutputAndEveryGradientMatch) {
  auto encoder = Load();
  EXPECT_EQ(encoder->config().pools(), Masked());
  auto x = Ref("input_features").requires_grad_(true);
  auto y = encoder->forward(x, Lengths());
  const auto want = Ref("output");
  ASSERT_EQ(y.sizes(), want.sizes());
  EXPECT_LE(MaxAbs(y, want), 1e-4);
  EXPECT_GT(want.abs().max().item<double>(), 0.5) << "a reference this small could not tell a bug";
  if (Masked()) {
    EXPECT_TRUE(at::equal(encoder->OutputLengths(Ref("lengths")).second, Ref("output_lengths")));
    // Without the key mask the short clip's rows change far above the bound.
    torch::NoGradGuard no_grad;
    auto unmasked = encoder->forward(Ref("input_features"));
    EXPECT_GT(MaxAbs(unmasked[1], want[1]), 1e-2);
  }
  (y * Ref("probe")).sum().backward();
  EXPECT_LE(Relative(x.grad(), Ref("grad.input_features")), 1e-4);
  int checked = 0;
  for (const auto& p : encoder->named_parameters()) {
    if (p.key() == "embed_positions.weight") {
      EXPECT_FALSE(p.value().grad().defined()) << "the position table is frozen";
      continue;
    }
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_LE(Relative(p.value().grad(), Ref("grad." + p.key())), 1e-4) << p.key();
    ++checked;
  }
  EXPECT_EQ(checked, GetParam().expected_grads);
}

TEST_P(AudioParityTest, BadInputsAndConfigsAreNamed) {
  auto encoder = Load();
  torch::NoGradGuard no_grad;
  const auto error = [](auto&& f) {
    try {
      f();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error([&] { encoder->forward(at::zeros({2, 80, 90})); }).find("pad or cut every clip"), std::string::npos);
  EXPECT_NE(error([&] { encoder->forward(at::zeros({2, 80, 100}), at::tensor({100, 0}, at::kLong)); })
                .find("one length in [1, frames] per clip"),
            std::string::npos);
  nlohmann::json j = models::AudioEncoderConfigToJson(encoder->config());
  j["activation_function"] = "relu";
  EXPECT_NE(error([&] { models::AudioEncoderConfigFromJson(j, "a.json"); }).find("activation_function 'relu'"),
            std::string::npos);
  j["activation_function"] = "gelu";
  j["dropout"] = 0.1;
  EXPECT_NE(error([&] { models::AudioEncoderConfigFromJson(j, "a.json"); }).find("without dropout"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Encoders, AudioParityTest,
                         ::testing::Values(AudioCase{"whisper_encoder", 36}, AudioCase{"qwen2_audio_encoder", 36}),
                         [](const auto& info) { return std::string(info.param.what); });

}  // namespace
}  // namespace loom
