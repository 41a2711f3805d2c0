// ModelConfigOf: the model.* keys are models::LlmConfig's fields (one
// declaration); with model.path, config.json decides and every architecture
// key of the schema that contradicts it is an error naming the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ops/base/error.h"
#include "sdk/config/schema.h"
#include "sdk/train/model_config.h"

namespace loom::train {
namespace {

namespace fs = std::filesystem;

// A checkpoint directory holding only config.json for `c`.
std::string WriteConfigJson(const models::LlmConfig& c, const std::string& what) {
  const auto dir = fs::temp_directory_path() / ("loom-model-config-" + what + "-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << models::LlmConfigToJson(c).dump(2);
  return dir.string();
}

models::LlmConfig TinyDense() {
  models::LlmConfig c;
  c.model_type = "llama";
  c.vocab_size = 96, c.hidden_size = 32, c.intermediate_size = 48, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8;
  c.tie_word_embeddings = true;  // bools at their default, so the other value is neither
  return c;
}

// A value for `key` that differs from both its default and the file's.
std::string OtherValue(const config::ConfigKey& key, const config::LoomConfig& file) {
  const config::LoomConfig defaults;
  const std::string def = config::FormatValue(key, defaults), have = config::FormatValue(key, file);
  std::vector<std::string> candidates;
  switch (key.type()) {
    case config::KeyType::kString: candidates = key.choices; break;
    case config::KeyType::kInt: candidates = {"3", "5", "7"}; break;
    case config::KeyType::kFloat: candidates = {"0.125", "0.25", "0.5"}; break;
    case config::KeyType::kBool: candidates = {"true", "false"}; break;
    case config::KeyType::kIntList: candidates = {"1", "0"}; break;
  }
  for (const auto& v : candidates) {
    config::LoomConfig probe;
    config::SetFromString(key, probe, v, "test");
    const std::string shown = config::FormatValue(key, probe);
    if (shown != def && shown != have) return v;
  }
  ADD_FAILURE() << "no distinct value for " << key.name;
  return "";
}

bool IsArchitectureKey(const config::ConfigKey& key) {
  const std::string leaf = key.leaf();
  return key.section() == "model" && leaf != "path" && leaf != "config" && leaf != "router_aux_loss_coef" &&
         leaf != "output_router_logits";
}

void ExpectEveryKeyChecked(const models::LlmConfig& file_config, const std::string& what) {
  const std::string dir = WriteConfigJson(file_config, what);
  config::LoomConfig from_file;
  from_file.model.arch = models::LoadLlmConfig(dir + "/config.json");
  int checked = 0, ignored = 0;
  for (const auto& key : config::ConfigSchema()) {
    if (!IsArchitectureKey(key)) continue;
    config::LoomConfig cfg;
    cfg.model.path = dir;
    config::SetFromString(key, cfg, OtherValue(key, from_file), "test");
    const bool moe_only = models::IsMoeOnlyKey(key.leaf());
    if (moe_only && !file_config.IsMoe()) {  // meaningless for a dense checkpoint: ignored
      EXPECT_NO_THROW(ModelConfigOf(cfg.model)) << key.name;
      ++ignored;
      continue;
    }
    try {
      ModelConfigOf(cfg.model);
      ADD_FAILURE() << what << ": " << key.name << " = " << config::FormatValue(key, cfg) << " was accepted";
    } catch (const ConfigError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string(key.name) + " = " + config::FormatValue(key, cfg) + " disagrees with " + dir +
                         "/config.json, which says " + config::FormatValue(key, from_file)),
                std::string::npos)
          << msg;
      EXPECT_NE(msg.find("remove " + std::string(key.name)), std::string::npos) << msg;
    }
    ++checked;
  }
  EXPECT_GE(checked, 12) << what;  // family .. tie_word_embeddings, at least
  if (!file_config.IsMoe()) EXPECT_EQ(ignored, 6) << "num_experts .. mlp_only_layers";
  fs::remove_all(dir);
}

TEST(ModelConfigTest, EveryArchitectureKeyThatContradictsConfigJsonIsNamed) {
  ExpectEveryKeyChecked(TinyDense(), "dense");
  auto moe = TinyDense();
  moe.model_type = "qwen3_moe", moe.qk_norm = true;
  moe.num_experts = 6, moe.num_experts_per_tok = 2, moe.moe_intermediate_size = 16, moe.norm_topk_prob = true;
  moe.decoder_sparse_step = 2, moe.mlp_only_layers = {0};
  ExpectEveryKeyChecked(moe, "moe");
}

TEST(ModelConfigTest, KeysAtTheirDefaultsOrEqualToTheFileAreAccepted) {
  const std::string dir = WriteConfigJson(TinyDense(), "agree");
  config::LoomConfig cfg;
  cfg.model.path = dir;
  cfg.model.arch.hidden_size = 32;  // same as the file
  const auto c = ModelConfigOf(cfg.model);
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.vocab_size, 96);
  EXPECT_FALSE(c.qk_norm);
  fs::remove_all(dir);
}

TEST(ModelConfigTest, RouterLossKnobsOverrideTheCheckpoint) {
  auto moe = TinyDense();
  moe.model_type = "qwen3_moe";
  moe.output_router_logits = false, moe.router_aux_loss_coef = 0.001;
  const std::string dir = WriteConfigJson(moe, "knobs");
  config::LoomConfig cfg;
  cfg.model.path = dir;
  EXPECT_FALSE(ModelConfigOf(cfg.model).output_router_logits) << "a knob at its default does not override";
  cfg.model.arch.router_aux_loss_coef = 0.25;
  cfg.model.arch.output_router_logits = false;  // default is true: set
  const auto c = ModelConfigOf(cfg.model);
  EXPECT_DOUBLE_EQ(c.router_aux_loss_coef, 0.25);
  EXPECT_FALSE(c.output_router_logits);
  fs::remove_all(dir);
}

TEST(ModelConfigTest, WithoutAPathTheFamilyDecidesQkNormAndBiases) {
  config::LoomConfig cfg;
  for (const auto& [family, qk_norm, bias] :
       std::vector<std::tuple<std::string, bool, bool>>{{"qwen3", true, false}, {"qwen3_moe", true, false},
                                                        {"qwen2", false, true}, {"llama", false, false}}) {
    cfg.model.arch.model_type = family;
    const auto c = ModelConfigOf(cfg.model);
    EXPECT_EQ(c.qk_norm, qk_norm) << family;
    EXPECT_EQ(c.attention_bias, bias) << family;
    EXPECT_EQ(c.hidden_size, config::ModelConfig{}.arch.hidden_size) << family;
  }
}

}  // namespace
}  // namespace loom::train
