// LoadConfig / overrides / ToYaml / ToJson: precedence, every error kind
// with its message, and round trips.
#include "sdk/config/load_config.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "ops/base/error.h"

namespace loom::config {
namespace {

namespace fs = std::filesystem;

// A YAML file in a fresh temp dir, removed with the fixture.
class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loom_cfg_test_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& text, const std::string& name = "cfg.yaml") {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  fs::path dir_;
};

// The message of the ConfigError `fn` throws ("" if none).
template <typename Fn>
std::string ErrorOf(Fn fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(LoadConfig, DefaultsWithoutFile) {
  const LoomConfig cfg = LoadConfig("");
  EXPECT_EQ(ToJson(cfg), ToJson(LoomConfig{}));
  EXPECT_EQ(cfg.train.lr, 3e-4);
  EXPECT_EQ(cfg.model.arch.model_type, "qwen3");
  EXPECT_EQ(cfg.parallel.dp_shard, -1);
  EXPECT_TRUE(cfg.model.arch.tie_word_embeddings);
}

TEST_F(ConfigFileTest, FileThenOverridesLaterWins) {
  const std::string path = Write(
      "model:\n  family: llama\n  tie_word_embeddings: true\n"
      "train:\n  lr: 1e-3\n  steps: 50\n"
      "parallel: {dp_shard: 2}\n"
      "run.name: from_file\n");
  const LoomConfig cfg =
      LoadConfig(path, {"--train.lr", "3e-4", "--model.path=/x", "--parallel.dp_shard", "4",
                        "--model.tie_word_embeddings", "false", "--train.steps=7",
                        "--train.steps", "8"});
  EXPECT_EQ(cfg.model.arch.model_type, "llama");   // file only
  EXPECT_EQ(cfg.train.lr, 3e-4);          // override beats file
  EXPECT_EQ(cfg.model.path, "/x");        // --key=value
  EXPECT_EQ(cfg.parallel.dp_shard, 4);
  EXPECT_FALSE(cfg.model.arch.tie_word_embeddings);
  EXPECT_EQ(cfg.train.steps, 8);          // later override wins
  EXPECT_EQ(cfg.run.name, "from_file");   // dotted key at top level
  EXPECT_EQ(cfg.train.warmup_steps, LoomConfig{}.train.warmup_steps);  // default kept
}

TEST(ApplyOverrides, BoolFlagWithoutValueAndNegativeNumbers) {
  LoomConfig cfg;
  cfg.model.arch.tie_word_embeddings = false;
  ApplyOverrides(&cfg, {"--model.tie_word_embeddings", "--parallel.dp_shard", "-1",
                        "--parallel.sp", "2"});
  EXPECT_TRUE(cfg.model.arch.tie_word_embeddings);
  EXPECT_EQ(cfg.parallel.dp_shard, -1);
  EXPECT_EQ(cfg.parallel.sp, 2);
  ApplyOverrides(&cfg, {"--model.tie_word_embeddings=off"});
  EXPECT_FALSE(cfg.model.arch.tie_word_embeddings);
}

TEST_F(ConfigFileTest, UnknownFileKeyNamesNearest) {
  const std::string path = Write("train:\n  lr: 1e-3\n  lrr: 2\n");
  const std::string msg = ErrorOf([&] { LoadConfig(path); });
  EXPECT_NE(msg.find("unknown key 'train.lrr' in " + path + " line 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'train.lr'?"), std::string::npos) << msg;
}

TEST(ApplyOverrides, UnknownOverrideKeyNamesNearest) {
  LoomConfig cfg;
  std::string msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--model.familly", "llama"}); });
  EXPECT_NE(msg.find("unknown key 'model.familly'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'model.family'?"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--lr", "1"}); });
  EXPECT_NE(msg.find("did you mean 'train.lr'?"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--trian.seed=3"}); });
  EXPECT_NE(msg.find("did you mean 'train.seed'?"), std::string::npos) << msg;
}

TEST(ApplyOverrides, WrongTypeNamesKeyTypeAndValue) {
  LoomConfig cfg;
  std::string msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--train.steps", "abc"}); });
  EXPECT_NE(msg.find("'train.steps' expects an int, got 'abc'"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--train.steps", "3.5"}); });
  EXPECT_NE(msg.find("expects an int, got '3.5'"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--train.lr", "fast"}); });
  EXPECT_NE(msg.find("'train.lr' expects a float, got 'fast'"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--model.tie_word_embeddings", "maybe"}); });
  EXPECT_NE(msg.find("'model.tie_word_embeddings' expects a bool, got 'maybe'"),
            std::string::npos)
      << msg;
  EXPECT_EQ(cfg.train.steps, LoomConfig{}.train.steps);  // nothing half-applied
}

TEST(ApplyOverrides, OutOfRangeNamesAllowedRange) {
  LoomConfig cfg;
  std::string msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--train.beta1", "1.5"}); });
  EXPECT_NE(msg.find("'train.beta1' = 1.5 is out of range"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[0, 1)"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--parallel.dp_shard", "0"}); });
  EXPECT_NE(msg.find("-1 or [1, inf)"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--train.eps", "0"}); });
  EXPECT_NE(msg.find("(0, inf)"), std::string::npos) << msg;
}

TEST(ApplyOverrides, ValueNotInSetNamesAllowedValues) {
  LoomConfig cfg;
  std::string msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--train.schedule", "cosin"}); });
  EXPECT_NE(msg.find("'train.schedule' = 'cosin' is not allowed"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cosine, linear, constant"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--train.dtype=fp16"}); });
  EXPECT_NE(msg.find("fp32, bf16"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--model.family", "gpt2"}); });
  EXPECT_NE(msg.find("qwen3, qwen2, llama"), std::string::npos) << msg;
}

TEST(ApplyOverrides, MalformedTokens) {
  LoomConfig cfg;
  EXPECT_NE(ErrorOf([&] { ApplyOverrides(&cfg, {"--train.lr"}); }).find("has no value"),
            std::string::npos);
  EXPECT_NE(ErrorOf([&] { ApplyOverrides(&cfg, {"train.lr"}); }).find("unexpected argument"),
            std::string::npos);
}

TEST(Validate, KeyValueHeadsMustDivideHeads) {
  LoomConfig cfg;
  const std::string msg = ErrorOf([&] {
    ApplyOverrides(&cfg, {"--model.num_attention_heads", "6", "--model.num_key_value_heads", "4"});
  });
  EXPECT_NE(msg.find("model.num_key_value_heads 4 does not divide model.num_attention_heads 6"),
            std::string::npos)
      << msg;
}

TEST_F(ConfigFileTest, MissingFileNamesFile) {
  const std::string path = (dir_ / "nope.yaml").string();
  const std::string msg = ErrorOf([&] { LoadConfig(path); });
  EXPECT_NE(msg.find("cannot read config file '" + path + "'"), std::string::npos) << msg;
}

TEST_F(ConfigFileTest, InvalidYamlNamesFileAndLine) {
  const std::string path = Write("train:\n  lr: 1e-3\n  steps: [1, 2\n");
  const std::string msg = ErrorOf([&] { LoadConfig(path); });
  EXPECT_NE(msg.find("invalid YAML in " + path + " line "), std::string::npos) << msg;
}

TEST_F(ConfigFileTest, StructuralErrors) {
  std::string msg = ErrorOf([&] { LoadConfig(Write("train: 5\n")); });
  EXPECT_NE(msg.find("'train' is a section"), std::string::npos) << msg;
  msg = ErrorOf([&] { LoadConfig(Write("train:\n  lr: [1, 2]\n")); });
  EXPECT_NE(msg.find("'train.lr' expects a float, got a list"), std::string::npos) << msg;
  msg = ErrorOf([&] { LoadConfig(Write("train:\n  lr:\n")); });
  EXPECT_NE(msg.find("'train.lr' has no value"), std::string::npos) << msg;
  msg = ErrorOf([&] { LoadConfig(Write("- 1\n- 2\n")); });
  EXPECT_NE(msg.find("not a mapping of sections"), std::string::npos) << msg;
  msg = ErrorOf([&] { LoadConfig(Write("train:\n  steps: 10\n  seed: x1\n")); });
  EXPECT_NE(msg.find("line 3"), std::string::npos) << msg;
  // An empty file and a null string are fine.
  EXPECT_EQ(ToJson(LoadConfig(Write(""))), ToJson(LoomConfig{}));
  EXPECT_EQ(LoadConfig(Write("model:\n  path: ~\n")).model.path, "");
}

TEST(ToYaml, RoundTripsThroughLoad) {
  LoomConfig cfg;
  cfg.model.path = "/models/with space";
  cfg.model.arch.model_type = "llama";
  cfg.model.arch.tie_word_embeddings = false;
  cfg.model.arch.rope_theta = 5e5;
  cfg.model.arch.rms_norm_eps = 1e-5;
  cfg.data.eval = "";
  cfg.data.train = "/data/train-0";
  cfg.train.lr = 2.9e-4;
  cfg.train.min_lr_ratio = 1.0 / 3.0;
  cfg.train.schedule = "linear";
  cfg.run.name = "yes";  // would read back as a bool if not quoted
  cfg.run.db = "0.5";    // would read back as a number if not quoted
  cfg.parallel.dp_shard = -1;
  const std::string yaml = ToYaml(cfg);
  const LoomConfig back = LoadConfigFromString(yaml, "roundtrip.yaml");
  EXPECT_EQ(ToJson(back), ToJson(cfg)) << yaml;
  EXPECT_NE(yaml.find("train:\n"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("  lr: 0.00029"), std::string::npos) << yaml;
}

TEST(IntList, FromYamlListsOverridesAndRoundTrips) {
  // YAML flow and block lists, the command line's comma form, and empty.
  EXPECT_EQ(LoadConfigFromString("model:\n  mlp_only_layers: [0, 3]\n", "a.yaml").model.arch.mlp_only_layers,
            (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(LoadConfigFromString("model:\n  mlp_only_layers:\n    - 2\n", "b.yaml").model.arch.mlp_only_layers,
            (std::vector<int64_t>{2}));
  EXPECT_TRUE(LoadConfigFromString("model:\n  mlp_only_layers: []\n", "c.yaml").model.arch.mlp_only_layers.empty());
  EXPECT_TRUE(LoadConfigFromString("model:\n  mlp_only_layers:\n", "d.yaml").model.arch.mlp_only_layers.empty());
  LoomConfig cfg;
  ApplyOverrides(&cfg, {"--model.mlp_only_layers", "1,2"});
  EXPECT_EQ(cfg.model.arch.mlp_only_layers, (std::vector<int64_t>{1, 2}));
  ApplyOverrides(&cfg, {"--model.mlp_only_layers="});
  EXPECT_TRUE(cfg.model.arch.mlp_only_layers.empty());
  cfg.model.arch.mlp_only_layers = {0, 5};
  const std::string yaml = ToYaml(cfg);
  EXPECT_NE(yaml.find("mlp_only_layers: [0, 5]"), std::string::npos) << yaml;
  EXPECT_EQ(ToJson(LoadConfigFromString(yaml, "roundtrip.yaml")), ToJson(cfg));
  EXPECT_EQ(ToJson(cfg)["model"]["mlp_only_layers"], nlohmann::json({0, 5}));
  // Bad elements name the key, the value and the form to write.
  std::string msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--model.mlp_only_layers", "0,x"}); });
  EXPECT_NE(msg.find("'model.mlp_only_layers' expects an int list, got '0,x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("such as 0,2"), std::string::npos) << msg;
  msg = ErrorOf([&] { ApplyOverrides(&cfg, {"--model.mlp_only_layers", "-1"}); });
  EXPECT_NE(msg.find("out of range"), std::string::npos) << msg;
  msg = ErrorOf([&] { LoadConfigFromString("model:\n  mlp_only_layers: [[1]]\n", "e.yaml"); });
  EXPECT_NE(msg.find("expects a list of ints"), std::string::npos) << msg;
  EXPECT_EQ(cfg.model.arch.mlp_only_layers, (std::vector<int64_t>{0, 5}));  // nothing half-applied
}

TEST(ToJson, NativeTypesPerSection) {
  const nlohmann::json j = ToJson(LoomConfig{});
  EXPECT_TRUE(j["train"]["lr"].is_number_float());
  EXPECT_TRUE(j["train"]["steps"].is_number_integer());
  EXPECT_TRUE(j["model"]["tie_word_embeddings"].is_boolean());
  EXPECT_EQ(j["run"]["db"], "runs/loom.sqlite");
  EXPECT_EQ(j.size(), 5u);
}

TEST(SplitConfigArgs, PathAmongOverrides) {
  ConfigArgs a = SplitConfigArgs({"--train.lr", "3e-4", "cfg.yaml", "--model.tie_word_embeddings"});
  EXPECT_EQ(a.path, "cfg.yaml");
  EXPECT_EQ(a.overrides,
            (std::vector<std::string>{"--train.lr=3e-4", "--model.tie_word_embeddings=true"}));
  a = SplitConfigArgs({});
  EXPECT_EQ(a.path, "");
  EXPECT_THROW(SplitConfigArgs({"a.yaml", "b.yaml"}), ConfigError);
}

TEST(SampleConfigs, TinyQwen3Loads) {
  const LoomConfig cfg = LoadConfig(LOOM_SOURCE_DIR "/samples/configs/tiny_qwen3.yaml");
  EXPECT_EQ(cfg.model.arch.model_type, "qwen3");
  EXPECT_LE(cfg.model.arch.hidden_size, 256);
}

}  // namespace
}  // namespace loom::config

namespace loom::config {
namespace {

// components.<name>.parallel.<key>: YAML and overrides, checked against the
// parallel.<key> row, canonical, printed and read back, and named in errors.
TEST_F(ConfigFileTest, ComponentKeysLoadPrintAndRoundTrip) {
  const std::string path = Write(
      "parallel: {sp: 2}\n"
      "components:\n  vision:\n    parallel:\n      recompute: full\n      dp_replicate: 1\n"
      "  llm: {parallel: {cpu_offload: yes}}\n");
  const LoomConfig cfg = LoadConfig(path, {"--components.audio.parallel.dp_shard", "4",
                                           "--components.vision.parallel.recompute=selective"});
  EXPECT_EQ(cfg.parallel.sp, 2);
  EXPECT_EQ(cfg.components.at("vision").at("recompute"), "selective") << "the override wins over the file";
  EXPECT_EQ(cfg.components.at("vision").at("dp_replicate"), "1");
  EXPECT_EQ(cfg.components.at("llm").at("cpu_offload"), "true") << "stored canonical";
  EXPECT_EQ(cfg.components.at("audio").at("dp_shard"), "4");
  const LoomConfig back = LoadConfig(Write(ToYaml(cfg), "back.yaml"));
  EXPECT_EQ(back.components, cfg.components);
  const auto j = ToJson(cfg);
  EXPECT_EQ(j["components"]["audio"]["parallel"]["dp_shard"], 4) << j.dump();
  EXPECT_EQ(j["components"]["llm"]["parallel"]["cpu_offload"], true) << j.dump();
  EXPECT_FALSE(ToJson(LoomConfig{}).contains("components"));
  // A bare bool override means true, as for parallel.* keys.
  EXPECT_EQ(LoadConfig("", {"--components.vision.parallel.cpu_offload"}).components.at("vision").at("cpu_offload"),
            "true");
}

TEST(LoadConfig, ComponentKeyErrorsNameTheKeyAndTheFix) {
  std::string e = ErrorOf([] { LoadConfig("", {"--components.vision.parallel.recompute", "most"}); });
  EXPECT_NE(e.find("components.vision.parallel.recompute"), std::string::npos) << e;
  EXPECT_NE(e.find("none, full, selective"), std::string::npos) << e;
  EXPECT_EQ(e.find("'parallel.recompute'"), std::string::npos) << "names the component key: " << e;
  e = ErrorOf([] { LoadConfig("", {"--components.vision.parallel.recompte", "full"}); });
  EXPECT_NE(e.find("did you mean 'components.vision.parallel.recompute'"), std::string::npos) << e;
  e = ErrorOf([] { LoadConfig("", {"--components.vision.recompute", "full"}); });
  EXPECT_NE(e.find("write components.<component>.parallel.<key>"), std::string::npos) << e;
  e = ErrorOf([] { LoadConfig("", {"--components.vision.parallel.dp_shard", "0"}); });
  EXPECT_NE(e.find("components.vision.parallel.dp_shard"), std::string::npos) << e;
}

}  // namespace
}  // namespace loom::config
