// The Trainer object: Step() with observers, Cancel() from another thread
// (one process) and from one rank (all ranks stop at the same step), the
// run store left consistent, and State()/Restore() resuming bit for bit.
// Also the Plan value: built from a config by one function, JSON round
// trip, every problem listed at once.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <iterator>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "ops/base/error.h"
#include "parallel/plan/plan.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/model_config.h"
#include "sdk/train/plan_config.h"
#include "sdk/train/trainer.h"
#include "tests/testing/multi_rank.h"
#include "tests/testing/synthetic_data.h"

namespace loom::train {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& what) {
  const auto dir = fs::temp_directory_path() / ("loom-" + what + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

config::LoomConfig Tiny(const std::string& dir, const std::string& name, int64_t steps) {
  config::LoomConfig cfg;
  cfg.model.arch.model_type = "qwen3";
  cfg.model.arch.vocab_size = 64, cfg.model.arch.hidden_size = 32, cfg.model.arch.intermediate_size = 48;
  cfg.model.arch.num_hidden_layers = 2, cfg.model.arch.num_attention_heads = 4, cfg.model.arch.num_key_value_heads = 2;
  cfg.model.arch.head_dim = 8;
  cfg.data.train = testing::MakeSyntheticDataset(dir + "/data");
  cfg.data.seq_len = 32, cfg.data.micro_batch_size = 2;
  cfg.train.steps = steps, cfg.train.lr = 1e-2, cfg.train.warmup_steps = 2;
  cfg.run.name = name, cfg.run.dir = dir + "/runs", cfg.run.db = dir + "/runs.sqlite";
  return cfg;
}

// Counts what a trainer reports.
struct Recorder : TrainerObserver {
  std::atomic<int> steps{0};
  std::vector<double> losses;
  std::vector<std::string> events;
  metrics::RunStatus status = metrics::RunStatus::kRunning;
  void OnStep(const metrics::StepMetrics& m) override {
    losses.push_back(m.loss);
    ++steps;
  }
  void OnEvent(int64_t, const std::string& kind, const std::string&) override { events.push_back(kind); }
  void OnFinish(metrics::RunStatus s, const std::string&) override { status = s; }
};

TEST(TrainerTest, CancelFromAnotherThreadEndsTheRunCancelled) {
  const std::string dir = TempDir("cancel");
  auto trainer = Trainer::Create(Tiny(dir, "cancelled", 1000));
  auto rec = std::make_shared<Recorder>();
  trainer->AddObserver(rec);
  std::thread canceller([&] {
    while (rec->steps.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    trainer->Cancel();
  });
  int64_t ran = 0;
  while (trainer->Step()) ++ran;
  canceller.join();
  EXPECT_TRUE(trainer->cancelled());
  EXPECT_GE(ran, 3);
  EXPECT_LT(ran, 1000) << "Cancel() did not stop the run";
  EXPECT_FALSE(trainer->Step()) << "a cancelled trainer must not step again";
  EXPECT_EQ(rec->status, metrics::RunStatus::kCancelled);
  EXPECT_EQ(rec->events.front(), "build") << "observers added after Create still see the build event";
  EXPECT_NE(std::find(rec->events.begin(), rec->events.end(), "plan"), rec->events.end());
  EXPECT_EQ(rec->events.back(), "cancel");
  metrics::RunStore store(dir + "/runs.sqlite");
  const auto run = store.GetRun("cancelled");
  EXPECT_EQ(run.status, metrics::RunStatus::kCancelled);
  EXPECT_EQ(static_cast<int64_t>(store.GetSteps(run.id).size()), ran) << "every step done is in the store";
  EXPECT_EQ(static_cast<int64_t>(rec->losses.size()), ran);
}

TEST(TrainerTest, CancelOnOneRankStopsEveryRankAtTheSameStep) {
  const std::string dir = TempDir("cancel-ranks");
  const auto cfg = Tiny(dir, "cancelled2", 1000);
  std::mutex mu;
  std::vector<int64_t> stopped_at(2, -1);
  testing::RunOnRanks(2, [&](const comm::CommunicatorPtr& world) {
    auto trainer = Trainer::Create(cfg, world);
    while (trainer->Step()) {
      if (world->rank() == 1 && trainer->step() == 2) trainer->Cancel();
    }
    std::lock_guard<std::mutex> lock(mu);
    stopped_at[world->rank()] = trainer->step();
    EXPECT_TRUE(trainer->cancelled()) << "rank " << world->rank();
  });
  EXPECT_EQ(stopped_at[0], 2);
  EXPECT_EQ(stopped_at[1], 2);
  metrics::RunStore store(dir + "/runs.sqlite");
  EXPECT_EQ(store.GetRun("cancelled2").status, metrics::RunStatus::kCancelled);
  EXPECT_EQ(store.GetSteps(store.GetRun("cancelled2").id).size(), 2u);
}

TEST(TrainerTest, RestoredStateContinuesBitForBit) {
  const std::string dir = TempDir("state");
  auto whole = Trainer::Create(Tiny(dir, "whole", 6));
  auto rec = std::make_shared<Recorder>();
  whole->AddObserver(rec);
  while (whole->Step()) {
  }
  auto first = Trainer::Create(Tiny(dir, "first_half", 6));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(first->Step());
  const TrainerState state = first->State();
  EXPECT_EQ(state.step, 3);
  EXPECT_EQ(state.data_position, 3 * 2) << "global rows: 3 steps of 2-row micro-batches";
  auto resumed = Trainer::Create(Tiny(dir, "second_half", 6));
  auto rec2 = std::make_shared<Recorder>();
  resumed->AddObserver(rec2);
  resumed->Restore(state);
  while (resumed->Step()) {
  }
  ASSERT_EQ(rec->losses.size(), 6u);
  ASSERT_EQ(rec2->losses.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rec2->losses[i], rec->losses[3 + i]) << "step " << 3 + i;
  auto other = Trainer::Create(Tiny(dir, "other", 6));
  TrainerState broken = state;
  broken.model.pop_back();
  EXPECT_THROW(other->Restore(broken), ConfigError);
}

// Sharded checkpoints in one process: 3 steps + save + resume in a new
// trainer + 3 steps equal 6 straight bit for bit (losses and final
// parameters); only the newest `keep` survive; an unfinished save (.tmp) is
// never picked; a damaged, incomplete or foreign checkpoint is refused by
// name before anything changes.
TEST(TrainerTest, CheckpointResumeIsBitForBitAndBadCheckpointsAreNamed) {
  const std::string dir = TempDir("ckpt");
  auto whole = Trainer::Create(Tiny(dir, "whole", 6));
  auto rec = std::make_shared<Recorder>();
  whole->AddObserver(rec);
  while (whole->Step()) {
  }
  auto cfg = Tiny(dir, "part", 6);
  cfg.train.checkpoint_every = 1, cfg.train.checkpoint_keep = 2;
  auto first = Trainer::Create(cfg);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(first->Step());
  first->WaitForCheckpoint();  // step 3's save is written in the background until committed here
  const std::string root = first->CheckpointRoot();
  std::vector<std::string> kept;
  for (const auto& e : fs::directory_iterator(root)) kept.push_back(e.path().filename().string());
  std::sort(kept.begin(), kept.end());
  EXPECT_EQ(kept, (std::vector<std::string>{"latest", "step-00000002", "step-00000003"})) << "keep 2";
  first.reset();
  // A save that never committed (a crash mid-write) is ignored.
  fs::create_directories(root + "/.tmp-step-00000004");
  std::ofstream(root + "/.tmp-step-00000004/rank-00000.safetensors") << "partial";
  auto again = cfg;
  again.train.checkpoint_every = 0;
  again.train.resume = "latest";
  auto resumed = Trainer::Create(again);
  EXPECT_EQ(resumed->step(), 3);
  auto rec2 = std::make_shared<Recorder>();
  resumed->AddObserver(rec2);
  while (resumed->Step()) {
  }
  ASSERT_EQ(rec2->losses.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rec2->losses[i], rec->losses[3 + i]) << "step " << 3 + i;
  const auto a = whole->State(), b = resumed->State();
  ASSERT_EQ(a.model.size(), b.model.size());
  for (size_t i = 0; i < a.model.size(); ++i) EXPECT_TRUE(a.model[i].second.equal(b.model[i].second)) << a.model[i].first;
  for (size_t i = 0; i < a.optimizer.size(); ++i) EXPECT_TRUE(a.optimizer[i].second.equal(b.optimizer[i].second)) << a.optimizer[i].first;
  // Bad checkpoints: copies of step 3, each damaged one way.
  const auto refused = [&](const std::string& ckpt, const std::string& want) {
    auto c = Tiny(dir, "bad", 6);
    c.train.resume = ckpt;
    try {
      Trainer::Create(c);
      ADD_FAILURE() << ckpt << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("fix: "), std::string::npos) << e.what();
    }
  };
  const std::string good = root + "/step-00000003";
  const auto copy = [&](const std::string& name) {
    const std::string to = dir + "/" + name;
    fs::copy(good, to, fs::copy_options::recursive);
    return to;
  };
  const std::string truncated = copy("truncated");
  fs::resize_file(truncated + "/rank-00000.safetensors", fs::file_size(truncated + "/rank-00000.safetensors") - 10);
  refused(truncated, truncated + "/rank-00000.safetensors has ");
  const std::string flipped = copy("flipped");
  {
    std::fstream f(flipped + "/rank-00000.safetensors", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-20, std::ios::end);
    f.put('\x7f');
  }
  refused(flipped, "CRC-32 mismatch");
  const std::string missing = copy("missing");
  fs::remove(missing + "/rank-00000.safetensors");
  refused(missing, missing + "/rank-00000.safetensors is missing");
  refused(dir + "/nowhere", "no committed checkpoint at " + dir + "/nowhere");
  auto bigger = Tiny(dir, "bigger", 6);
  bigger.model.arch.hidden_size = 64;
  bigger.train.resume = good;
  try {
    Trainer::Create(bigger);
    ADD_FAILURE() << "another model resumed";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("holds a qwen3 model of"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(good + "/meta.json")) << "nothing was overwritten";
}

// Asynchronous saves (the default) write the same bytes as synchronous
// ones; a resume continues the checkpoint's run in the store (same id, steps
// appended, a `resumed` event); a cancel ends with a final checkpoint from
// which the rest of the run equals the straight one.
TEST(TrainerTest, AsyncSavesEqualSyncOnesAndAResumeContinuesTheSameRun) {
  const std::string dir = TempDir("ckpt-async");
  auto straight_cfg = Tiny(dir, "straight", 8);
  auto straight = Trainer::Create(straight_cfg);
  auto rec = std::make_shared<Recorder>();
  straight->AddObserver(rec);
  while (straight->Step()) {
  }
  const auto run_with = [&](const std::string& name, bool async) {
    auto cfg = Tiny(dir, name, 8);
    cfg.train.checkpoint_every = 2, cfg.train.checkpoint_keep = 0, cfg.train.checkpoint_async = async;
    auto t = Trainer::Create(cfg);
    while (t->Step()) {
    }
    t->Finish();
    return t->CheckpointRoot();
  };
  const std::string sync_root = run_with("sync", false), async_root = run_with("async", true);
  for (const char* step : {"step-00000002", "step-00000004", "step-00000006", "step-00000008"}) {
    const auto a = sync_root + "/" + step + "/rank-00000.safetensors", b = async_root + "/" + step + "/rank-00000.safetensors";
    ASSERT_TRUE(fs::exists(a) && fs::exists(b)) << step;
    std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
    const std::string da((std::istreambuf_iterator<char>(fa)), {}), db((std::istreambuf_iterator<char>(fb)), {});
    EXPECT_EQ(da, db) << step << ": the async save differs from the sync one";
  }
  // Cancel after 3 steps: the final checkpoint is step 3 (no regular save was due).
  auto cfg = Tiny(dir, "cancelled", 8);
  cfg.train.checkpoint_every = 5;
  auto first = Trainer::Create(cfg);
  const int64_t run_id = first->result().run_id;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(first->Step());
  first->Cancel(SIGTERM);
  EXPECT_FALSE(first->Step());
  EXPECT_EQ(first->result().signal, SIGTERM);
  first.reset();
  ASSERT_TRUE(fs::exists(fs::path(dir) / "runs/cancelled/checkpoints/step-00000003/meta.json"));
  metrics::RunStore store(dir + "/runs.sqlite");
  EXPECT_EQ(store.GetRun(std::to_string(run_id)).status, metrics::RunStatus::kCancelled);
  const auto events = store.GetEvents(run_id);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().kind, "cancel");
  EXPECT_NE(events.back().message.find("SIGTERM: cancelled at the step boundary before step 3; checkpoint "),
            std::string::npos) << events.back().message;
  cfg.train.resume = "latest";
  auto resumed = Trainer::Create(cfg);
  EXPECT_EQ(resumed->result().run_id, run_id) << "a resume continues the checkpoint's run";
  while (resumed->Step()) {
  }
  resumed->Finish();
  const auto run = store.GetRun(std::to_string(run_id));
  EXPECT_EQ(run.status, metrics::RunStatus::kCompleted);
  const auto steps = store.GetSteps(run_id);
  ASSERT_EQ(steps.size(), 8u) << "3 steps, then 5 appended";
  for (size_t i = 0; i < steps.size(); ++i) EXPECT_EQ(steps[i].loss, rec->losses[i]) << "step " << i;
  bool resumed_event = false;
  for (const auto& e : store.GetEvents(run_id)) resumed_event |= e.kind == "resumed" && e.step == 3;
  EXPECT_TRUE(resumed_event);
  // "auto" with nothing committed starts afresh (a new run).
  auto fresh = Tiny(dir, "fresh", 2);
  fresh.train.resume = "auto";
  auto t = Trainer::Create(fresh);
  EXPECT_EQ(t->step(), 0);
  EXPECT_NE(t->result().run_id, run_id);
}

TEST(PlanTest, OneFunctionBuildsItAndJsonRoundTrips) {
  config::LoomConfig cfg;
  cfg.parallel.dp_replicate = 2, cfg.parallel.sp = 2, cfg.parallel.recompute = "selective";
  cfg.parallel.param_dtype = "bf16", cfg.train.dtype = "bf16", cfg.parallel.fsdp_layers_per_unit = 2;
  const auto plan = PlanFromConfig(cfg, 8);
  const auto& c = plan.Component("model");
  EXPECT_EQ(c.mesh.dp_shard, 2) << "dp_shard -1 resolves to the rest of the world";
  EXPECT_EQ(c.fsdp.unit_pattern, "model.layers.*");
  EXPECT_EQ(c.precision.compute, at::kBFloat16);
  EXPECT_EQ(c.precision.params, at::kBFloat16);
  EXPECT_EQ(c.precision.reduce, at::kFloat);
  const auto json = parallel::PlanToJson(plan);
  EXPECT_EQ(parallel::PlanToJson(parallel::PlanFromJson(json)), json);
  ValidatePlanFor(plan, ModelConfigOf(cfg.model));
  auto bad = json;
  bad["components"][0]["mesh"]["spp"] = 2;
  try {
    parallel::PlanFromJson(bad);
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("components[0].mesh.spp"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parallel::PlanFromJson(nlohmann::json{{"world", "four"}, {"components", nlohmann::json::array()}}),
               ConfigError);
}

TEST(PlanTest, EveryProblemIsListedAtOnceWithItsKey) {
  config::LoomConfig cfg;  // qwen3: 4 heads, dense
  cfg.parallel.sp = 3, cfg.parallel.ep = 2, cfg.parallel.fsdp_layers_per_unit = 0;
  const auto plan = PlanFromConfig(cfg, 4);
  const auto problems = parallel::FindPlanProblems(plan, {SpecOf(ModelConfigOf(cfg.model))});
  std::set<std::string> keys;
  for (const auto& p : problems) keys.insert(p.key);
  EXPECT_TRUE(keys.count("parallel.dp_shard")) << "world 4 does not split into sp 3";
  EXPECT_TRUE(keys.count("parallel.ep")) << "ep on a dense model";
  EXPECT_TRUE(keys.count("parallel.sp")) << "4 heads over sp 3";
  EXPECT_TRUE(keys.count("parallel.fsdp_layers_per_unit"));
  try {
    ValidatePlanFor(plan, ModelConfigOf(cfg.model));
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("the parallel plan has 4 problems"), std::string::npos) << what;
    EXPECT_NE(what.find("needs a mixture-of-experts model"), std::string::npos) << what;
    EXPECT_NE(what.find("not divisible by parallel.sp 3"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace loom::train
