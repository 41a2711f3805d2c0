// Parity of the Whisper-style audio encoders with transformers (oracle:
// tests/models/audio_oracle.py, tiny random models): WhisperEncoder on two
// clips, and Qwen2AudioEncoder on two clips of different lengths (100 and 61
// frames) masked as Qwen2-Audio masks them. Output 1e-4 max-abs; every
// trainable parameter's gradient and the features' 1e-4 relative; the
// position table stays frozen (no gradient), as in HF. Bad inputs and
// configs are named. The composed Qwen2AudioForConditionalGeneration (encoder,
// projector, Qwen2 LLM) with two clips of different lengths in one padded
// batch: logits 1e-4, every gradient 1e-4 relative, 10 AdamW steps 1e-5
// relative, and a Loom export loads in transformers with equal logits.
#include <gtest/gtest.h>

#include <fstream>

#include <ATen/ATen.h>

#include <filesystem>


#include "models/audio/audio_encoder.h"
#include "models/core/safetensors.h"
#include "models/omni/omni_model.h"
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

class Qwen2AudioParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oracle_ = std::make_unique<testing::OracleRef>(testing::OracleScript("audio_oracle.py"), "qwen2_audio");
  }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  models::ModelInputs Batch() {
    models::ModelInputs in;
    in.input_ids = Ref("input_ids");
    const auto mask = Ref("attention_mask");
    in.doc_ids = at::where(mask == 1, at::zeros_like(mask), at::full_like(mask, -1));
    in.media.input_features = Ref("input_features");
    in.media.feature_lengths = Ref("feature_lengths");
    return in;
  }
  double Count() { return (Ref("labels") != -100).sum().item<double>(); }
  std::unique_ptr<testing::OracleRef> oracle_;
};

TEST_F(Qwen2AudioParityTest, LogitsLossAndEveryGradientMatch) {
  auto model = models::LoadOmniModel(oracle_->dir() + "/model");
  EXPECT_EQ(model->family(), "qwen2_audio");
  {
    torch::NoGradGuard no_grad;
    const auto valid = Ref("attention_mask").to(at::kBool);
    const auto want = Ref("logits");
    EXPECT_LE(MaxAbs(model->Logits(Batch()).index({valid}), want.index({valid})), 1e-4);
  }
  auto loss = model->LossSum(Batch(), Ref("labels"), 7) / Count();
  EXPECT_LE(std::abs(loss.item<double>() - Ref("loss").item<double>()), 1e-5 * Ref("loss").item<double>());
  loss.backward();
  int checked = 0;
  for (const auto& p : model->named_parameters()) {
    if (!p.value().requires_grad()) continue;  // the frozen position table
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_LE(Relative(p.value().grad(), Ref("grad." + p.key())), 1e-4) << p.key();
    ++checked;
  }
  EXPECT_EQ(checked, 65);  // 36 encoder + 2 projector + 27 LLM
}

TEST_F(Qwen2AudioParityTest, TenAdamWStepsMatch) {
  auto model = models::LoadOmniModel(oracle_->dir() + "/model");
  const auto want = Ref("train_losses");
  const auto got = testing::OracleAdamWLosses(
      model->parameters(), [&] { return model->LossSum(Batch(), Ref("labels"), 7) / Count(); }, want.size(0));
  for (int64_t step = 0; step < want.size(0); ++step) {
    const double w = want[step].item<double>();
    EXPECT_LE(std::abs(got[step] - w), 1e-5 * w) << "step " << step;
  }
  EXPECT_LT(want[want.size(0) - 1].item<double>(), 0.5 * want[0].item<double>()) << "the reference must learn";
}

TEST_F(Qwen2AudioParityTest, ExportLoadsInTransformersAndMismatchesAreNamed) {
  auto model = models::LoadOmniModel(oracle_->dir() + "/model");
  const auto out = (std::filesystem::temp_directory_path() / ("loom-audio-export-" + std::to_string(::getpid()))).string();
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& p : model->named_parameters()) state.emplace_back(p.key(), p.value().detach());
  model->SaveExport(state, out);
  torch::NoGradGuard no_grad;
  const auto logits = model->Logits(Batch());
  const auto in = Batch();
  models::SaveSafetensors(out + "/expected.safetensors",
                          {{"input_ids", in.input_ids}, {"attention_mask", Ref("attention_mask")},
                           {"input_features", in.media.input_features},
                           {"feature_attention_mask", Ref("feature_attention_mask")}, {"logits", logits}});
  const std::string cmd = testing::VenvPython() + " " + testing::OracleScript("audio_oracle.py") + " check_audio " +
                          out + " " + out + "/expected.safetensors > " + out + "/check.log 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << "see " << out << "/check.log";
  EXPECT_EQ(MaxAbs(models::LoadOmniModel(out)->Logits(Batch()), logits), 0.0);
  // The short clip given as full length: 25 rows where 15 tokens wait.
  auto wrong = Batch();
  wrong.media.feature_lengths = at::tensor({100, 100}, at::kLong);
  try {
    model->Logits(wrong);
    ADD_FAILURE() << "a clip/token mismatch was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("40 audio placeholder tokens, but the clips give 50"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace loom
