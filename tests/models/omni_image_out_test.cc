// An omni model's image decoder (models/omni/image_out.h) against a
// reference composed from transformers' modules (tests/models/janus_oracle.py
// omni_image_out: Qwen3 + Janus's generation embeddings, aligner and head):
// the text and image-token losses per row, their gradients, the extended
// logits; bad ids and configs name the fix.
#include <fstream>
#include <memory>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/omni/omni_model.h"
#include "ops/base/error.h"
#include "tests/testing/oracle.h"

namespace loom {
namespace {

using testing::RelativeDiff;

class OmniImageOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    oracle_ = std::make_unique<testing::OracleRef>(testing::OracleScript("janus_oracle.py"), "omni_image_out");
    model_ = models::LoadOmniModel(oracle_->dir() + "/model");
  }
  at::Tensor Ref(const std::string& name) { return oracle_->Get(name); }
  at::Tensor Grad(const std::string& name) {
    for (const auto& p : model_->named_parameters()) {
      if (p.key() == name) return p.value().grad();
    }
    ADD_FAILURE() << "no parameter " << name;
    return {};
  }
  nlohmann::json Config() {
    std::ifstream in(oracle_->dir() + "/model/config.json");
    return nlohmann::json::parse(in);
  }
  std::unique_ptr<testing::OracleRef> oracle_;
  std::shared_ptr<models::OmniModel> model_;
};

TEST_F(OmniImageOutTest, LossesPerRowAndGradientsMatchTheComposedReference) {
  ASSERT_TRUE(model_->image_out);
  EXPECT_EQ(model_->config().ImageCodeOffset(), 64);
  models::ModelInputs in;
  in.input_ids = Ref("input_ids");
  in.loss_groups = at::tensor({0, 1}, at::kLong).unsqueeze(1).expand_as(in.input_ids).contiguous();
  in.n_loss_groups = 2;
  const auto labels = Ref("labels");
  // Both kinds of label are present (the image head's loss is not vacuous).
  ASSERT_GT((labels >= 64).sum().item<int64_t>(), 6);
  auto loss = model_->LossSum(in, labels, /*chunk_size=*/5);
  EXPECT_LE(RelativeDiff(loss.reshape({1}), Ref("loss")), 1e-5);
  const auto by_row = Ref("text_loss_by_row") + Ref("image_loss_by_row");
  EXPECT_LE(RelativeDiff(model_->LastLossByGroup(), by_row), 1e-5);
  // The image term alone is large enough that dropping it would fail.
  EXPECT_GT(Ref("image_loss_by_row").sum().item<double>(), 0.3 * Ref("loss").item<double>());
  loss.backward();
  EXPECT_LE(RelativeDiff(Grad("image_out.embeddings.weight"), Ref("grad_embeddings")), 1e-4);
  EXPECT_LE(RelativeDiff(Grad("image_out.head.vision_head.weight"), Ref("grad_vision_head")), 1e-4);
  EXPECT_LE(RelativeDiff(Grad("image_out.aligner.fc1.weight"), Ref("grad_aligner_fc1")), 1e-4);
  EXPECT_LE(RelativeDiff(Grad("llm.lm_head.weight"), Ref("grad_lm_head")), 1e-4);
  EXPECT_LE(RelativeDiff(Grad("llm.model.layers.0.self_attn.q_proj.weight"), Ref("grad_q_proj0")), 1e-4);
}

TEST_F(OmniImageOutTest, ExtendedLogitsAreTextThenImageHeads) {
  models::ModelInputs in;
  in.input_ids = Ref("input_ids");
  const auto logits = model_->ExtendedLogits(in);  // (2, 12, 64 + 32)
  ASSERT_EQ(logits.size(-1), 96);
  EXPECT_LE(RelativeDiff(logits.narrow(-1, 0, 64), model_->Logits(in)), 1e-6);
  const auto h = model_->Hidden(in);
  EXPECT_LE(RelativeDiff(logits.narrow(-1, 64, 32), model_->image_out->head->forward(h)), 1e-6);
}

TEST_F(OmniImageOutTest, IdsOutsideTheExtendedVocabularyNameTheFix) {
  models::ModelInputs in;
  in.input_ids = Ref("input_ids");
  in.input_ids[0][3] = 64 + 32;  // one past the last code
  try {
    model_->Hidden(in);
    FAIL() << "an id past the codes was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("input id 96 is outside the model's ids [0, 96)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("num_embeddings 32"), std::string::npos) << e.what();
  }
  // A label past the codes is refused by the loss.
  in.input_ids = Ref("input_ids");
  auto labels = Ref("labels");
  labels[0][2] = 64 + 40;
  EXPECT_THROW(model_->LossSum(in, labels, 8), ConfigError);
  // A model without image_out refuses code ids.
  auto j = Config();
  j["components"].erase("image_out");
  j.erase("image_out_start_token_id");
  j.erase("image_out_end_token_id");
  models::OmniModel text_only(models::OmniConfigFromJson(j, "test"));
  in.input_ids = Ref("input_ids");
  try {
    text_only.Hidden(in);
    FAIL() << "image codes were accepted without image_out";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no image_out component"), std::string::npos) << e.what();
  }
}

TEST_F(OmniImageOutTest, BadConfigsNameTheKeyAndTheFix) {
  const auto expect_error = [](const nlohmann::json& j, const std::string& needle) {
    try {
      models::OmniConfigFromJson(j, "cfg.json");
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto j = Config();
  j["components"]["image_out"]["projection_dim"] = 16;
  expect_error(j, "components.image_out projection_dim 16 is not the LLM's hidden_size 24");
  j = Config();
  j["components"]["image_out"]["image_token_embed_dim"] = 8;
  expect_error(j, "image_token_embed_dim 8 is not the LLM's hidden_size 24");
  j = Config();
  j["image_out_end_token_id"] = 64;
  expect_error(j, "image_out_end_token_id 64 is outside the vocabulary (size 64)");
  j = Config();
  j.erase("image_out_start_token_id");
  expect_error(j, "missing integer 'image_out_start_token_id'");
  j = Config();
  j["components"]["image_out"] = {{"from", "/tmp"}};
  expect_error(j, "components.image_out cannot be taken \"from\" a directory");
}

TEST_F(OmniImageOutTest, SpecsAndSavedConfigKeepTheComponent) {
  const auto specs = model_->component_specs();
  ASSERT_EQ(specs.size(), 2u);
  EXPECT_EQ(specs[0].name, "image_out");
  EXPECT_EQ(specs[1].name, "llm");
  int64_t params = 0;
  for (const auto& p : model_->parameters()) params += p.numel();
  EXPECT_EQ(model_->NumParameters(), params);
  const auto saved = models::OmniConfigToJson(model_->config());
  const auto again = models::OmniConfigFromJson(saved, "saved");
  ASSERT_TRUE(again.HasImageOut());
  EXPECT_EQ(again.image_out->num_embeddings, 32);
  EXPECT_EQ(again.image_out_start_token_id, 60);
  EXPECT_EQ(again.ImageOutTokens(), 4);
}

}  // namespace
}  // namespace loom
