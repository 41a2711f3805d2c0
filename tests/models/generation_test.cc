// Generation: the KV cache (ops::KvCacheAttention) against recomputing the
// whole prefix (logits per position, tokens for dense, GQA, MoE and an omni
// model with an image), and the sampler (greedy limits, distribution,
// top-k / top-p truncation, seeds, bad options).
#include <cmath>
#include <memory>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "models/core/generation.h"
#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"
#include "models/omni/omni_generate.h"
#include "ops/attention/kv_cache.h"
#include "ops/base/error.h"

namespace loom {
namespace {

models::LlmConfig Tiny(const std::string& type) {
  models::LlmConfig c;
  c.model_type = type;
  c.vocab_size = 97, c.hidden_size = 32, c.intermediate_size = 48, c.num_hidden_layers = 3;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8;
  c.qk_norm = type != "llama";
  c.initializer_range = 0.2;  // peaked logits: argmax decided well above float noise
  if (type == "qwen3_moe") c.num_experts = 4, c.num_experts_per_tok = 2, c.moe_intermediate_size = 16;
  return c;
}

double MaxRelative(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

class CacheTest : public ::testing::TestWithParam<std::string> {};

// Prefill 5 positions, 4 single steps, then a 3-position chunk (the masked
// path): each forward's logits equal the full prefix's at those positions.
TEST_P(CacheTest, CachedLogitsEqualTheWholePrefixAtEveryPosition) {
  torch::NoGradGuard no_grad;
  models::DecoderLM model(Tiny(GetParam()));
  model.InitWeights(3);
  auto g = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto ids = at::randint(97, {1, 12}, g);
  const auto full = model.Logits({ids, at::Tensor(), at::Tensor()})[0];  // (12, V)
  model.SetAttentionBackend(std::make_shared<ops::KvCacheAttention>(3));
  int64_t at_pos = 0;
  double worst = 0;
  for (int64_t len : {5, 1, 1, 1, 1, 3}) {
    models::ModelInputs in;
    in.input_ids = ids.slice(1, at_pos, at_pos + len);
    in.position_ids = at::arange(at_pos, at_pos + len, at::kLong).unsqueeze(0);
    const auto got = model.Logits(in)[0];
    worst = std::max(worst, MaxRelative(got, full.slice(0, at_pos, at_pos + len)));
    at_pos += len;
  }
  model.SetAttentionBackend(std::make_shared<ops::LocalAttention>());
  EXPECT_EQ(at_pos, 12);
  EXPECT_LT(worst, 1e-5) << "cached vs whole-prefix logits";
}

TEST_P(CacheTest, CachedGenerationEqualsUncachedTokenForToken) {
  models::DecoderLM model(Tiny(GetParam()));
  model.InitWeights(4);
  models::GenerateOptions o;
  o.max_new_tokens = 40;
  const std::vector<int64_t> prompt = {3, 14, 15, 92, 65};
  const auto cached = models::Generate(model, prompt, o);
  o.kv_cache = false;
  const auto uncached = models::Generate(model, prompt, o);
  ASSERT_EQ(cached.size(), prompt.size() + 40);
  EXPECT_EQ(cached, uncached);
  // Sampled, same seed: the same tokens both ways too.
  o.sampling.temperature = 1.0, o.sampling.seed = 9;
  const auto sampled_uncached = models::Generate(model, prompt, o);
  o.kv_cache = true;
  EXPECT_EQ(models::Generate(model, prompt, o), sampled_uncached);
  EXPECT_NE(sampled_uncached, uncached) << "temperature 1 sampled exactly the greedy tokens";
}

INSTANTIATE_TEST_SUITE_P(Families, CacheTest, ::testing::Values("qwen3", "llama", "qwen3_moe"));

TEST(OmniCacheTest, AnImagePromptGeneratesTheSameTokensCachedOrNot) {
  nlohmann::json j = {{"model_type", "loom_omni"}, {"image_token_id", 90}, {"video_token_id", 91},
                      {"vision_start_token_id", 92}, {"vision_end_token_id", 93},
                      {"components",
                       {{"vision", {{"depth", 1}, {"embed_dim", 16}, {"hidden_size", 32}, {"num_heads", 2}, {"patch_size", 14}}},
                        {"llm", {{"model_type", "qwen3"}, {"vocab_size", 100}, {"hidden_size", 32}, {"intermediate_size", 48},
                                 {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"num_key_value_heads", 2},
                                 {"head_dim", 8}, {"initializer_range", 0.2},
                                 {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 1, 1}}}}}}}}};
  models::OmniModel model(models::OmniConfigFromJson(j, "omni.json"));
  model.InitWeights(6);
  models::MediaInputs media;
  auto g = at::make_generator<at::CPUGeneratorImpl>(2);
  media.image_grid_thw = at::tensor({1, 4, 4}, at::kLong).view({1, 3});  // 16 patches -> 4 tokens after 2x2 merge
  media.pixel_values = at::randn({16, 3 * 2 * 14 * 14}, g);
  const std::vector<int64_t> prompt = {5, 92, 90, 90, 90, 90, 93, 7, 8};
  models::GenerateOptions o;
  o.max_new_tokens = 24;
  const auto cached = models::GenerateOmni(model, prompt, media, o);
  o.kv_cache = false;
  const auto uncached = models::GenerateOmni(model, prompt, media, o);
  ASSERT_EQ(cached.size(), prompt.size() + 24);
  EXPECT_EQ(cached, uncached);
}

TEST(SamplerTest, FollowsTheDistributionAndItsTruncations) {
  const auto logits = at::tensor({0.0, std::log(2.0), std::log(4.0)}, at::kFloat);  // p = 1/7, 2/7, 4/7
  auto g = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto frequencies = [&](models::SamplingOptions o) {
    std::vector<double> f(3, 0);
    for (int i = 0; i < 7000; ++i) f[static_cast<size_t>(models::SampleToken(logits, o, g))] += 1;
    for (auto& x : f) x /= 7000;  // exact 0 and 1 stay exact
    return f;
  };
  models::SamplingOptions o;
  o.temperature = 1;
  auto f = frequencies(o);
  EXPECT_NEAR(f[0], 1.0 / 7, 0.02); EXPECT_NEAR(f[1], 2.0 / 7, 0.02); EXPECT_NEAR(f[2], 4.0 / 7, 0.02);
  o.top_k = 2;  // the least likely token never comes
  f = frequencies(o);
  EXPECT_EQ(f[0], 0.0); EXPECT_NEAR(f[1], 1.0 / 3, 0.02); EXPECT_NEAR(f[2], 2.0 / 3, 0.02);
  o.top_k = 0, o.top_p = 0.8;  // 4/7 < 0.8 <= 6/7: the top two
  f = frequencies(o);
  EXPECT_EQ(f[0], 0.0); EXPECT_NEAR(f[1], 1.0 / 3, 0.02);
  o.top_p = 0.5;  // 4/7 >= 0.5: the top one alone
  f = frequencies(o);
  EXPECT_EQ(f[2], 1.0);
  o.top_p = 1, o.temperature = 0.25;  // sharper: p ~ (1, 16, 256) / 273
  f = frequencies(o);
  EXPECT_NEAR(f[2], 256.0 / 273, 0.01);
  o.temperature = 0;  // greedy
  EXPECT_EQ(models::SampleToken(logits, o, g), 2);
}

TEST(SamplerTest, BadOptionsAreRefusedNamingTheFix) {
  const auto message = [](models::SamplingOptions o) {
    try {
      models::ValidateSampling(o);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  models::SamplingOptions o;
  o.temperature = -1;
  EXPECT_NE(message(o).find("temperature -1"), std::string::npos) << message(o);
  o = {}, o.top_k = -3;
  EXPECT_NE(message(o).find("top_k -3 is negative"), std::string::npos) << message(o);
  o = {}, o.top_p = 0;
  EXPECT_NE(message(o).find("outside (0, 1]"), std::string::npos) << message(o);
  o = {}, o.top_p = 1.5;
  EXPECT_NE(message(o).find("outside (0, 1]"), std::string::npos) << message(o);
  EXPECT_EQ(message({}), "accepted");
}

}  // namespace
}  // namespace loom
