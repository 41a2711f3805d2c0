// safetensors reading/writing: dtypes, sharding, corrupt files, config errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>

#include "models/llm/decoder_lm.h"
#include "models/core/registry.h"
#include "models/core/safetensors.h"
#include "models/llm/llm_config.h"
#include "ops/base/error.h"

namespace loom::models {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("loom-st-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

TEST(SafetensorsTest, RoundTripsEveryFloatDtype) {
  const auto dir = TempDir("dtypes");
  auto f32 = at::randn({3, 4});
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"a.f32", f32}, {"b.bf16", f32.to(at::kBFloat16)}, {"c.f16", f32.to(at::kHalf)}, {"d.i64", at::arange(5)}};
  SaveSafetensors(dir + "/x.safetensors", tensors);
  auto file = SafetensorsFile::Open(dir + "/x.safetensors");
  EXPECT_EQ(file->Names().size(), 4u);
  for (const auto& [name, t] : tensors) {
    auto got = file->Get(name);
    EXPECT_EQ(got.scalar_type(), t.scalar_type()) << name;
    EXPECT_TRUE(at::equal(got, t)) << name;
  }
}

TEST(SafetensorsTest, ShardedCheckpointWithIndex) {
  const auto dir = TempDir("sharded");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (int i = 0; i < 5; ++i) tensors.push_back({"w" + std::to_string(i), at::full({256}, static_cast<float>(i))});
  SaveSafetensorsDir(dir, tensors, /*max_shard_bytes=*/2048);  // 1 KiB each -> 3 shards
  EXPECT_TRUE(fs::exists(dir + "/model.safetensors.index.json"));
  EXPECT_TRUE(fs::exists(dir + "/model-00003-of-00003.safetensors"));
  auto ckpt = SafetensorsFiles::Open(dir);
  EXPECT_EQ(ckpt.Names().size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ckpt.Get("w" + std::to_string(i))[0].item<float>(), i);
  EXPECT_THROW(ckpt.Get("missing"), ConfigError);
}

TEST(SafetensorsTest, CorruptFilesGiveClearErrors) {
  const auto dir = TempDir("corrupt");
  std::ofstream(dir + "/short.safetensors") << "abc";
  EXPECT_THROW(SafetensorsFile::Open(dir + "/short.safetensors"), ConfigError);
  {
    std::ofstream f(dir + "/huge.safetensors", std::ios::binary);
    const uint64_t len = 1 << 30;
    f.write(reinterpret_cast<const char*>(&len), 8);
  }
  try {
    SafetensorsFile::Open(dir + "/huge.safetensors");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the file"), std::string::npos) << e.what();
  }
  EXPECT_THROW(SafetensorsFiles::Open(dir + "/nothing-here"), ConfigError);
}

TEST(LlmConfigTest, UnsupportedKeysAndValuesNameTheFix) {
  nlohmann::json j = {{"model_type", "qwen3"}, {"vocab_size", 10}, {"hidden_size", 8},
                      {"intermediate_size", 16}, {"num_hidden_layers", 1}, {"num_attention_heads", 2}};
  EXPECT_NO_THROW(LlmConfigFromJson(j, "cfg"));
  auto bad = j;
  bad["hidden_act"] = "gelu";
  EXPECT_THROW(LlmConfigFromJson(bad, "cfg"), ConfigError);
  bad = j;
  bad["moe_experts"] = 8;
  try {
    LlmConfigFromJson(bad, "cfg.json");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unsupported key 'moe_experts'"), std::string::npos) << e.what();
  }
  bad = j;
  bad["num_key_value_heads"] = 3;
  EXPECT_THROW(LlmConfigFromJson(bad, "cfg"), ConfigError);
  bad = j;
  bad["model_type"] = "gpt2";
  EXPECT_THROW(LlmConfigFromJson(bad, "cfg"), ConfigError);
  EXPECT_THROW(FindFamily("gpt2"), ConfigError);
  EXPECT_EQ(FindFamily("qwen3").plan.fsdp_unit_pattern, "model.layers.*");
  // Round trip through JSON.
  auto c = LlmConfigFromJson(j, "cfg");
  auto back = LlmConfigFromJson(LlmConfigToJson(c), "roundtrip");
  EXPECT_EQ(back.head_dim, 4);
  EXPECT_EQ(back.qk_norm, true);
}

}  // namespace
}  // namespace loom::models
