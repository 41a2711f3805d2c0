// A plan per component from a config (components.<name>.parallel.*), for an
// omni model built from model.config: what each component gets by default
// and when overridden, the errors, and the per-component memory estimate
// (its sharded state exact against the built model's own parameters).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "models/omni/omni_model.h"
#include "ops/base/error.h"
#include "parallel/plan/omni_memory.h"
#include "sdk/config/load_config.h"
#include "sdk/train/model_build.h"
#include "sdk/train/plan_config.h"

namespace loom::train {
namespace {

namespace fs = std::filesystem;

std::string OmniConfigFile() {
  static const std::string path = [] {
    nlohmann::json c = {{"model_type", "loom_omni"}, {"image_token_id", 90}, {"video_token_id", 91},
                        {"vision_start_token_id", 92}, {"vision_end_token_id", 93}, {"audio_token_id", 94}};
    c["components"]["llm"] = {{"model_type", "qwen3"}, {"vocab_size", 100}, {"hidden_size", 16},
                              {"intermediate_size", 24}, {"num_hidden_layers", 3}, {"num_attention_heads", 4},
                              {"num_key_value_heads", 2}, {"head_dim", 8}, {"tie_word_embeddings", false},
                              {"rope_scaling", {{"type", "mrope"}, {"mrope_section", {2, 1, 1}}}}};
    c["components"]["vision"] = {{"depth", 2}, {"embed_dim", 8}, {"hidden_size", 16}, {"num_heads", 2}, {"patch_size", 2}};
    c["components"]["audio"] = {{"model_type", "qwen2_audio_encoder"}, {"num_mel_bins", 4}, {"d_model", 8},
                                {"encoder_layers", 2}, {"encoder_attention_heads", 2}, {"encoder_ffn_dim", 8},
                                {"max_source_positions", 8}};
    const auto file = fs::temp_directory_path() / ("loom_omni_plan_" + std::to_string(getpid()) + ".json");
    std::ofstream(file) << c.dump();
    return file.string();
  }();
  return path;
}

config::LoomConfig Cfg(const std::vector<std::string>& overrides) {
  std::vector<std::string> all = {"--model.config", OmniConfigFile()};
  all.insert(all.end(), overrides.begin(), overrides.end());
  return config::LoadConfig("", all);
}

TEST(OmniPlanTest, EncodersGetTheirOwnMeshTheFoundationTakesParallel) {
  const auto cfg = Cfg({"--parallel.dp_shard", "2", "--parallel.sp", "2", "--parallel.recompute", "full"});
  EXPECT_TRUE(IsOmni(cfg.model));
  const auto plan = PlanFromConfig(cfg, 4);
  ASSERT_EQ(plan.components.size(), 3u);
  const auto& vision = plan.Component("vision");
  const auto& audio = plan.Component("audio");
  const auto& llm = plan.Component("llm");
  EXPECT_EQ(vision.module_path, "vision");
  EXPECT_EQ(vision.family, "qwen2_vision");
  EXPECT_EQ(audio.family, "qwen2_audio_encoder");
  EXPECT_EQ(llm.family, "qwen3");
  EXPECT_EQ(vision.mesh.sp, 1);
  EXPECT_EQ(vision.mesh.dp_shard, 4) << "an encoder shards over the whole world by default";
  EXPECT_EQ(vision.recompute, parallel::RecomputePolicy::kFull) << "other keys are inherited";
  EXPECT_EQ(llm.mesh.sp, 2);
  EXPECT_EQ(llm.mesh.dp_shard, 2);
  EXPECT_EQ(vision.fsdp.unit_pattern, "vision.blocks.*");
  EXPECT_EQ(llm.fsdp.unit_pattern, "llm.model.layers.*");
  ValidatePlanFor(plan, ComponentSpecsOf(cfg));
  // Inherited, a value an encoder does not offer is an error naming its key.
  try {
    const auto selective = Cfg({"--parallel.recompute", "selective", "--components.vision.parallel.recompute", "full"});
    ValidatePlanFor(PlanFromConfig(selective, 4), ComponentSpecsOf(selective));
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("components.audio.parallel.recompute selective: component 'audio' "
                                         "(qwen2_audio_encoder) offers no selective recompute; fix: set "
                                         "components.audio.parallel.recompute none or full"),
              std::string::npos)
        << e.what();
  }
}

TEST(OmniPlanTest, ComponentKeysOverride) {
  const auto cfg = Cfg({"--parallel.dp_replicate", "2", "--components.vision.parallel.dp_replicate", "1",
                        "--components.vision.parallel.recompute", "full", "--components.llm.parallel.cpu_offload",
                        "true"});
  const auto plan = PlanFromConfig(cfg, 4);
  EXPECT_EQ(plan.Component("vision").mesh.dp_replicate, 1);
  EXPECT_EQ(plan.Component("vision").mesh.dp_shard, 4);
  EXPECT_EQ(plan.Component("vision").recompute, parallel::RecomputePolicy::kFull);
  EXPECT_EQ(plan.Component("audio").mesh.dp_replicate, 2) << "audio keeps parallel.dp_replicate";
  EXPECT_EQ(plan.Component("audio").mesh.dp_shard, 2);
  EXPECT_EQ(plan.Component("audio").recompute, parallel::RecomputePolicy::kNone);
  EXPECT_TRUE(plan.Component("llm").offload);
  EXPECT_FALSE(plan.Component("vision").offload);
}

TEST(OmniPlanTest, ErrorsNameTheComponentKey) {
  try {
    ValidatePlanFor(PlanFromConfig(Cfg({"--components.audio.parallel.sp", "2"}), 4), ComponentSpecsOf(Cfg({})));
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("components.audio.parallel.sp 2: component 'audio' attends over whole"),
              std::string::npos)
        << e.what();
  }
  try {
    PlanFromConfig(Cfg({"--components.decoder.parallel.recompute", "full"}), 4);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no component 'decoder' (its components: vision, audio, llm)"), std::string::npos)
        << e.what();
  }
  // An LLM has one component, "model".
  try {
    PlanFromConfig(config::LoadConfig("", {"--components.vision.parallel.recompute", "full"}), 4);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("(its components: model)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(BuildModel(Cfg({"--model.hidden_size", "64"}), at::Device(at::kMeta)), ConfigError);
  EXPECT_THROW(BuildModel(Cfg({"--model.path", "/x"}), at::Device(at::kMeta)), ConfigError) << "path and config";
}

int64_t NumelUnder(const models::Module& m, const std::string& prefix) {
  int64_t n = 0;
  for (const auto& p : m.named_parameters()) n += p.key().rfind(prefix, 0) == 0 ? p.value().numel() : 0;
  return n;
}

TEST(OmniPlanTest, MemoryEstimatePerComponent) {
  const auto cfg = Cfg({"--parallel.dp_shard", "2", "--parallel.sp", "2", "--data.seq_len", "64",
                        "--data.micro_batch_size", "2"});
  const auto plan = PlanFromConfig(cfg, 4);
  const auto built = BuildModel(cfg, at::Device(at::kMeta));
  const auto& omni = static_cast<const models::OmniModel&>(*built.model).config();
  const auto est = parallel::EstimateOmniMemory(omni, plan, 64, 2, 0.25);
  ASSERT_EQ(est.size(), 3u);
  const std::map<std::string, int> shards{{"vision", 4}, {"audio", 4}, {"llm", 4}};  // llm: dp_shard 2 x sp 2
  for (const auto& e : est) {
    const int64_t params = NumelUnder(*built.model, e.name + ".");
    EXPECT_EQ(e.estimate.parameters, params) << e.name << ": the state estimate counts the component's own parameters";
    const int n = shards.at(e.name);
    EXPECT_EQ(e.estimate.param_bytes, 4 * ((params + n - 1) / n)) << e.name;
    EXPECT_GT(e.estimate.activation_bytes, 0) << e.name;
  }
  EXPECT_EQ(est[0].positions, 2 * 16 * 4) << "vision: a quarter of 64 tokens, 4 patches each, 2 rows";
  EXPECT_EQ(est[1].positions, 2 * 4 * 8) << "audio: 16 tokens = 4 clips of 4 rows, 8 positions each, 2 rows";
  EXPECT_EQ(est[2].positions, 2 * 32) << "llm: half of each row after SP 2";
  const auto none = parallel::EstimateOmniMemory(omni, plan, 64, 2, 0.0);
  EXPECT_EQ(none[0].estimate.activation_bytes, 0);
  EXPECT_EQ(none[2].estimate.total_bytes, est[2].estimate.total_bytes) << "the LLM's estimate does not depend on media";
  // The budget answer is exact over the estimate: L fits, L + 1 does not.
  const int64_t budget = parallel::TotalBytes(est) * 3;
  const int64_t longest = parallel::LongestOmniSeqLenWithin(budget, omni, plan, 2, 0.25);
  EXPECT_GT(longest, 64);
  EXPECT_LE(parallel::TotalBytes(parallel::EstimateOmniMemory(omni, plan, longest, 2, 0.25)), budget);
  EXPECT_GT(parallel::TotalBytes(parallel::EstimateOmniMemory(omni, plan, longest + 1, 2, 0.25)), budget);
  EXPECT_EQ(parallel::LongestOmniSeqLenWithin(1000, omni, plan, 2, 0.25), 0);
  EXPECT_THROW(parallel::EstimateOmniMemory(omni, plan, 64, 2, 1.5), ConfigError);
}

}  // namespace
}  // namespace loom::train

namespace loom::train {
namespace {

std::vector<std::pair<std::string, at::Tensor>> Named(const models::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach());
  return out;
}

// A composition from pretrained parts: the vision tower of a Qwen2-VL
// directory, the LLM of a plain qwen3 directory, the audio encoder from the
// seeded init. Each part's values equal its source's; the composition saves
// inline and reloads exactly; wrong sources are named.
TEST(OmniPlanTest, ComponentsFromOtherCheckpoints) {
  const fs::path root = fs::temp_directory_path() / ("loom_omni_from_" + std::to_string(getpid()));
  fs::remove_all(root);
  const nlohmann::json rope = {{"type", "mrope"}, {"mrope_section", {2, 1, 1}}};
  const nlohmann::json text = {{"model_type", "qwen2"}, {"vocab_size", 100}, {"hidden_size", 16},
                               {"intermediate_size", 24}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
                               {"num_key_value_heads", 1}, {"tie_word_embeddings", false}, {"rope_scaling", rope}};
  nlohmann::json vl = text;
  vl.update({{"model_type", "qwen2_vl"}, {"image_token_id", 90}, {"video_token_id", 91}, {"vision_start_token_id", 92},
             {"vision_end_token_id", 93},
             {"vision_config", {{"depth", 1}, {"embed_dim", 8}, {"hidden_size", 16}, {"num_heads", 2}, {"patch_size", 2}}}});
  models::OmniModel qwen2_vl(models::OmniConfigFromJson(vl, "test"));
  qwen2_vl.InitWeights(5);
  qwen2_vl.SaveExport(Named(qwen2_vl), (root / "vl").string());
  nlohmann::json q3 = text;
  q3.update({{"model_type", "qwen3"}, {"num_hidden_layers", 2}, {"head_dim", 8}});
  models::DecoderLM qwen3(models::LlmConfigFromJson(q3, "test"));
  qwen3.InitWeights(6);
  qwen3.SaveExport(Named(qwen3), (root / "q3").string());

  nlohmann::json composed = {{"model_type", "loom_omni"}, {"image_token_id", 90}, {"video_token_id", 91},
                             {"vision_start_token_id", 92}, {"vision_end_token_id", 93}, {"audio_token_id", 94}};
  composed["components"] = {{"vision", {{"from", (root / "vl").string()}}},
                            {"llm", {{"from", (root / "q3").string()}}},
                            {"audio", {{"model_type", "qwen2_audio_encoder"}, {"num_mel_bins", 4}, {"d_model", 8},
                                       {"encoder_layers", 1}, {"encoder_attention_heads", 2}, {"encoder_ffn_dim", 8},
                                       {"max_source_positions", 8}}}};
  const auto write = [&](const nlohmann::json& j) {
    std::ofstream(root / "composed.json") << j.dump();
    return config::LoadConfig("", {"--model.config", (root / "composed.json").string(), "--train.seed", "3"});
  };
  auto built = BuildModel(write(composed), at::Device(at::kCPU));
  EXPECT_NE(built.origin.find("llm from " + (root / "q3").string()), std::string::npos) << built.origin;
  const auto& omni = static_cast<models::OmniModel&>(*built.model);
  EXPECT_EQ(omni.config().llm.model_type, "qwen3");
  EXPECT_EQ(omni.config().llm.num_hidden_layers, 2);
  std::map<std::string, at::Tensor> vision, llm;
  for (const auto& [name, t] : Named(qwen2_vl)) vision[name] = t;
  for (const auto& [name, t] : Named(qwen3)) llm["llm." + name] = t;
  models::OmniModel seeded(omni.config());
  seeded.InitWeights(3);
  std::map<std::string, at::Tensor> init;
  for (const auto& [name, t] : Named(seeded)) init[name] = t;
  int from_vl = 0, from_q3 = 0, from_init = 0;
  for (const auto& [name, t] : Named(omni)) {
    if (name.rfind("vision.", 0) == 0) {
      EXPECT_TRUE(t.equal(vision.at(name))) << name;
      ++from_vl;
    } else if (name.rfind("llm.", 0) == 0) {
      EXPECT_TRUE(t.equal(llm.at(name))) << name;
      ++from_q3;
      EXPECT_FALSE(t.equal(init.at(name)) && t.dim() == 2) << name << " is the init, not the checkpoint";
    } else {
      EXPECT_TRUE(t.equal(init.at(name))) << name;
      ++from_init;
    }
  }
  EXPECT_GT(from_vl, 5);
  EXPECT_GT(from_q3, 5);
  EXPECT_GT(from_init, 5);
  // Saved, every component is inline and the directory reloads exactly.
  omni.SaveExport(Named(omni), (root / "saved").string());
  auto reloaded = models::LoadOmniModel((root / "saved").string());
  EXPECT_TRUE(reloaded->config().weights_from.empty());
  auto again = Named(*reloaded);
  auto mine = Named(omni);
  ASSERT_EQ(again.size(), mine.size());
  for (size_t i = 0; i < mine.size(); ++i) EXPECT_TRUE(again[i].second.equal(mine[i].second)) << mine[i].first;
  // Wrong sources are named.
  const auto error_of = [&](nlohmann::json j) {
    try {
      BuildModel(write(j), at::Device(at::kMeta));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  auto bad = composed;
  bad["components"]["vision"] = {{"from", (root / "q3").string()}};
  EXPECT_NE(error_of(bad).find("is a qwen3 model: it has no vision component"), std::string::npos) << error_of(bad);
  bad = composed;
  bad["components"]["audio"] = {{"from", (root / "vl").string()}};
  EXPECT_NE(error_of(bad).find("(qwen2_vl) has no audio component"), std::string::npos) << error_of(bad);
  bad = composed;
  bad["components"]["vision"] = {{"from", (root / "vl").string()}, {"depth", 2}};
  EXPECT_NE(error_of(bad).find("has \"from\" and other keys"), std::string::npos) << error_of(bad);
  bad = composed;
  bad["components"]["llm"] = {{"from", (root / "nowhere").string()}};
  EXPECT_NE(error_of(bad).find("cannot read " + (root / "nowhere").string() + "/config.json"), std::string::npos)
      << error_of(bad);
  fs::remove_all(root);
}

}  // namespace
}  // namespace loom::train
