// studio/model without a window: the plan checker (worker, coalescing,
// errors with their keys) and the run feed (a live run read while it
// trains: every snapshot a prefix of the store's final rows, nothing lost).
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include <gtest/gtest.h>

#include "studio/model/c_api.h"
#include "tests/studio/fixtures.h"
#include "studio/model/composer.h"
#include "studio/model/plan_checker.h"
#include "studio/model/run_feed.h"

namespace loom::studio {
namespace {

const char* kTiny =
    "model: {family: qwen3, vocab_size: 151936, hidden_size: 16, intermediate_size: 32,\n"
    "        num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4}\n"
    "data: {seq_len: 32, micro_batch_size: 2}\n"
    "train: {eval_every: 0, warmup_steps: 1, log_every: 1}\n";

TEST(PlanCheckerTest, ReportsErrorsWithTheirKeysThenAValidPlan) {
  PlanChecker checker;
  const auto bad = checker.WaitFor(checker.Request({kTiny, {"--parallel.sp=3"}, 3}));
  EXPECT_FALSE(bad.valid);
  ASSERT_FALSE(bad.errors.empty());
  bool names_sp = false;
  for (const auto& e : bad.errors)
    for (const auto& k : e.keys) names_sp |= k == "parallel.sp";
  EXPECT_TRUE(names_sp) << bad.report.dump();
  const auto config_error = checker.WaitFor(checker.Request({kTiny, {"--train.lrr=1"}, 1}));
  ASSERT_FALSE(config_error.valid);
  EXPECT_NE(config_error.errors[0].message.find("did you mean 'train.lr'"), std::string::npos);
  const auto ok = checker.WaitFor(checker.Request({kTiny, {"--parallel.sp=2"}, 4}));
  EXPECT_TRUE(ok.valid) << ok.report.dump();
  EXPECT_EQ(ok.report["plan"]["world"], 4);
  EXPECT_GT(ok.report["memory_per_rank"]["model"]["total_bytes"].get<int64_t>(), 0);
}

TEST(PlanCheckerTest, RequestsWhileACheckRunsCoalesceToTheNewest) {
  PlanChecker checker;
  uint64_t last = 0;
  for (int world = 1; world <= 40; ++world) last = checker.Request({kTiny, {}, world});
  const auto result = checker.WaitFor(last);
  EXPECT_EQ(result.request, last);
  EXPECT_EQ(result.report["plan"]["world"], 40);
  EXPECT_LT(checker.checks_run(), 40) << "every request was checked: none coalesced";
}

TEST(RunFeedTest, ALiveRunIsReadWholeWhileItTrains) {
  const std::string work = testing::Workdir("feed");
  const std::string data = testing::BuildNovelDataset(work, 40000), db = work + "/runs.sqlite";

  // The feed starts before the store exists, as it does for a run just launched.
  RunFeed feed(db, "feed_run", std::chrono::milliseconds(5));
  const std::string dirs = "--run.dir=" + work + "/runs", store = "--run.db=" + db, train = "--data.train=" + data;
  const char* o[] = {dirs.c_str(), store.c_str(), train.c_str(), "--train.steps=30", "--run.name=feed_run"};
  loom_config* raw = nullptr;
  Check(loom_config_parse(&raw, kTiny, "tiny", o, 5), "loom_config_parse");
  ConfigPtr cfg(raw);
  std::thread trainer([&] {
    loom_trainer* t = nullptr;
    Check(loom_trainer_create(&t, cfg.get(), nullptr), "loom_trainer_create");
    Check(loom_trainer_run(t), "loom_trainer_run");
    loom_trainer_destroy(t);
  });
  // The UI loop: a snapshot per "frame".
  std::vector<size_t> sizes;
  std::vector<FeedSnapshot> frames;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!feed.Ended() && std::chrono::steady_clock::now() < deadline) {
    frames.push_back(feed.Snapshot());
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  trainer.join();
  ASSERT_TRUE(feed.Ended());
  const FeedSnapshot final_frame = feed.Snapshot();

  StorePtr reader;
  {
    loom_store* s = nullptr;
    Check(loom_store_open(&s, db.c_str()), "loom_store_open");
    reader.reset(s);
  }
  char* out = nullptr;
  const int64_t id = final_frame.run["id"].get<int64_t>();
  Check(loom_store_read_steps(reader.get(), id, -1, &out), "loom_store_read_steps");
  const auto all_steps = TakeJson(out);
  Check(loom_store_read_events(reader.get(), id, 0, &out), "loom_store_read_events");
  const auto all_events = TakeJson(out);
  EXPECT_EQ(final_frame.run["status"], "completed");
  ASSERT_EQ(all_steps.size(), 30u);
  EXPECT_EQ(nlohmann::json(final_frame.steps), all_steps);  // nothing lost, nothing torn
  EXPECT_EQ(nlohmann::json(final_frame.events), all_events);
  size_t partial = 0;
  for (const auto& f : frames) {  // every frame a prefix of the final rows
    ASSERT_LE(f.steps.size(), all_steps.size());
    for (size_t i = 0; i < f.steps.size(); ++i) ASSERT_EQ(f.steps[i], all_steps[i]);
    partial += !f.steps.empty() && f.steps.size() < all_steps.size();
  }
  std::printf("run feed: %zu frames, %zu showed a partial run, %lld polls\n", frames.size(), partial,
              static_cast<long long>(final_frame.polls));
  EXPECT_GT(final_frame.polls, 1);
}

}  // namespace
}  // namespace loom::studio

namespace loom::studio {
namespace {

nlohmann::json Registry() {
  char* out = nullptr;
  Check(loom_registry_json(&out), "loom_registry_json");
  return TakeJson(out);
}

void SetAll(Composition& c, const std::string& role, const nlohmann::json& fields) {
  for (const auto& [k, v] : fields.items()) c.SetField(role, k, v);
}

Composition TinyOmni() {
  Composition c(Registry());
  c.AddBlock("llm", "qwen3");
  SetAll(c, "llm", {{"hidden_size", 32}, {"intermediate_size", 48}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                    {"num_key_value_heads", 2}, {"head_dim", 8}, {"tie_word_embeddings", false}});
  c.AddBlock("vision", "qwen2_vision");
  SetAll(c, "vision", {{"depth", 2}, {"embed_dim", 16}, {"num_heads", 2}});
  c.AddBlock("audio", "qwen2_audio_encoder");
  SetAll(c, "audio", {{"num_mel_bins", 80}, {"d_model", 16}, {"encoder_layers", 2}, {"encoder_attention_heads", 2},
                      {"encoder_ffn_dim", 24}});
  return c;
}

TEST(CompositionTest, EditsAreCheckedAgainstTheRegistry) {
  Composition c = TinyOmni();
  EXPECT_THROW(c.AddBlock("llm", "qwen2"), std::invalid_argument);  // one foundation
  try {
    c.AddBlock("speech", "whisper");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("roles are vision, audio and llm"), std::string::npos);
  }
  try {
    c.SetField("llm", "hiden_size", 64);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'hidden_size'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(c.SetField("llm", "hidden_size", "wide"), std::invalid_argument);
  EXPECT_THROW(c.Connect("llm", "vision"), std::invalid_argument);
  // Unconnected encoders stop a save, naming each.
  const auto problems = c.Problems();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_THROW(c.ModelConfig(), std::invalid_argument);
  c.Connect("vision", "llm");
  c.Connect("audio", "llm");
  EXPECT_TRUE(c.Problems().empty());
  c.RemoveBlock("llm");
  EXPECT_EQ(c.Problems().front(), "no foundation: add an llm block");
}

TEST(CompositionTest, SavesWhatLoomTrainRunsAndLoadsItBack) {
  Composition c = TinyOmni();
  c.Connect("vision", "llm");
  c.Connect("audio", "llm");
  c.SetParallel("vision", "recompute", "full");
  c.SetParallel("llm", "sp", "2");
  const std::string work = testing::Workdir("compose"), json_path = work + "/model.json";
  std::ofstream(json_path) << c.ModelConfig().dump(2);
  const std::string yaml = c.TrainYaml(json_path, "data: {seq_len: 64}\n");

  // The saved pair is a valid plan on 4 ranks: a component each, the vision block recomputed, the LLM under SP 2.
  PlanChecker checker;
  const auto result = checker.WaitFor(checker.Request({yaml, {}, 4}));
  ASSERT_TRUE(result.valid) << result.report.dump() << "\n" << yaml;
  std::map<std::string, nlohmann::json> plan;
  for (const auto& comp : result.report["plan"]["components"]) plan[comp["name"]] = comp;
  ASSERT_EQ(plan.size(), 3u) << result.report["plan"].dump();
  EXPECT_EQ(plan["vision"]["recompute"], "full") << plan["vision"].dump();
  EXPECT_EQ(plan["llm"]["mesh"]["sp"], 2) << plan["llm"].dump();

  // Loaded back: the same blocks, fields and per-block keys.
  loom_config* raw = nullptr;
  Check(loom_config_parse(&raw, yaml.c_str(), "composed", nullptr, 0), "loom_config_parse");
  ConfigPtr cfg(raw);
  char* out = nullptr;
  Check(loom_config_to_json(cfg.get(), &out), "loom_config_to_json");
  const auto resolved = TakeJson(out);
  std::ifstream in(json_path);
  const Composition back = Composition::FromConfig(Registry(), nlohmann::json::parse(in), resolved["components"]);
  ASSERT_EQ(back.blocks().size(), 3u);
  for (const auto& [role, b] : c.blocks()) {
    const Block& other = back.blocks().at(role);
    EXPECT_EQ(other.model_type, b.model_type) << role;
    EXPECT_EQ(other.parallel, b.parallel) << role;
    EXPECT_TRUE(other.connected || role == "llm") << role;
    for (const auto& [k, v] : b.fields.items()) {
      if ((role == "vision" && k == "hidden_size") || (role == "llm" && k == "rope_scaling")) continue;  // derived joins
      EXPECT_EQ(other.fields[k], v) << role << "." << k;
    }
  }
  EXPECT_EQ(back.ModelConfig(), c.ModelConfig());
}

}  // namespace
}  // namespace loom::studio
