// Image mode in generation (models/core/generation.h ImageModeOptions): an
// omni model with an image decoder draws exactly num_patches^2 codes after
// the image start token, then the end token, cached or not, greedy or
// sampled; classifier-free guidance combines the two rows' code logits as
// u + s (c - u) and leaves text tokens to the conditional row; bad options
// name the fix.
#include <memory>
#include <set>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "models/core/generation.h"
#include "models/omni/omni_generate.h"
#include "ops/base/error.h"

namespace loom {
namespace {

constexpr int64_t kVocab = 100, kCodes = 24, kStart = 95, kEnd = 96;

std::shared_ptr<models::OmniModel> Drawer() {
  nlohmann::json j = {
      {"model_type", "loom_omni"}, {"image_out_start_token_id", kStart}, {"image_out_end_token_id", kEnd},
      {"components",
       {{"llm", {{"model_type", "qwen3"}, {"vocab_size", kVocab}, {"hidden_size", 32}, {"intermediate_size", 48},
                 {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 8},
                 {"initializer_range", 0.2}}},
        {"image_out", {{"num_embeddings", kCodes}, {"embed_dim", 4}, {"num_patches", 3}, {"projection_dim", 32},
                       {"image_token_embed_dim", 32}, {"num_hidden_layers", 2}}}}}};
  auto model = std::make_shared<models::OmniModel>(models::OmniConfigFromJson(j, "drawer.json"));
  model->InitWeights(3);
  return model;
}

TEST(ImageGenerationTest, AfterTheStartTokenComeExactlyTheImagesCodesThenTheEnd) {
  auto model = Drawer();
  const std::vector<int64_t> prompt = {5, 17, 33, kStart};
  models::GenerateOptions o;
  o.max_new_tokens = 9 + 1 + 6;  // the codes, the end, then text again
  const auto cached = models::GenerateOmni(*model, prompt, {}, o);
  o.kv_cache = false;
  const auto uncached = models::GenerateOmni(*model, prompt, {}, o);
  ASSERT_EQ(cached.size(), prompt.size() + 16);
  EXPECT_EQ(cached, uncached);
  for (int k = 0; k < 9; ++k) {
    const int64_t id = cached[prompt.size() + k];
    EXPECT_GE(id, kVocab) << "position " << k << " of the image is a text token";
    EXPECT_LT(id, kVocab + kCodes);
  }
  EXPECT_EQ(cached[prompt.size() + 9], kEnd);
  for (size_t k = prompt.size() + 10; k < cached.size(); ++k) EXPECT_LT(cached[k], kVocab) << "a code after the image";
  // The codes are the image head's argmax at each step (greedy): not one constant code.
  std::set<int64_t> distinct(cached.begin() + 4, cached.begin() + 13);
  EXPECT_GT(distinct.size(), 1u);
  // Sampled: the same seed gives the same image, cached or not, and another seed another one.
  o.sampling.temperature = 1.0, o.sampling.top_k = 8, o.sampling.seed = 4;
  const auto sampled_uncached = models::GenerateOmni(*model, prompt, {}, o);
  o.kv_cache = true;
  EXPECT_EQ(models::GenerateOmni(*model, prompt, {}, o), sampled_uncached);
  o.sampling.seed = 5;
  EXPECT_NE(models::GenerateOmni(*model, prompt, {}, o), sampled_uncached);
}

TEST(ImageGenerationTest, GuidanceRunsBothRowsInOneBatchAndCombinesTheirCodeLogits) {
  auto model = Drawer();
  const std::vector<int64_t> prompt = {5, 17, 33, kStart}, uncond = {5, 0, 0, kStart};
  models::GenerateOptions o;
  o.max_new_tokens = 10;
  o.image = {kStart, kEnd, kVocab, kCodes, 9, 3.0, uncond};
  // The reference: every step's logits of both prefixes, combined by hand.
  std::vector<int64_t> cond_ids = prompt, uncond_ids = uncond;
  {
    torch::NoGradGuard no_grad;
    for (int k = 0; k < 9; ++k) {
      models::ModelInputs in;
      in.input_ids = at::stack({at::tensor(cond_ids, at::kLong), at::tensor(uncond_ids, at::kLong)});
      const auto last = model->ExtendedLogits(in).select(1, -1).narrow(-1, kVocab, kCodes);  // (2, N)
      const int64_t code = (last[1] + 3.0 * (last[0] - last[1])).argmax().item<int64_t>();
      cond_ids.push_back(kVocab + code), uncond_ids.push_back(kVocab + code);
    }
  }
  const auto guided = models::GenerateOmni(*model, prompt, {}, o);
  ASSERT_EQ(guided.size(), prompt.size() + 10);
  EXPECT_EQ(std::vector<int64_t>(guided.begin(), guided.begin() + 13), cond_ids);
  EXPECT_EQ(guided.back(), kEnd);
  o.kv_cache = false;
  EXPECT_EQ(models::GenerateOmni(*model, prompt, {}, o), guided);
  // Guidance changes the image (else the test above proves nothing).
  o.image.cfg_scale = 1.0;
  EXPECT_NE(models::GenerateOmni(*model, prompt, {}, o), guided);
}

TEST(ImageGenerationTest, BadImageModeOptionsNameTheFix) {
  auto model = Drawer();
  models::GenerateOptions o;
  o.image.cfg_scale = 2.0;
  o.image.unconditional = {1, 2};
  try {
    models::GenerateOmni(*model, {5, 17, 33}, {}, o);
    FAIL() << "an unconditional prompt of another length was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("the unconditional prompt has 2 tokens, the prompt 3"), std::string::npos) << e.what();
  }
  o.image.cfg_scale = -1;
  EXPECT_THROW(models::GenerateOmni(*model, {5, 17, 33}, {}, o), ConfigError);
}

}  // namespace
}  // namespace loom
