// RunStore: create/log/finish/list/show, WAL visibility from a second
// connection while writing, thread-safety, and bad-path errors.
#include "sdk/metrics/run_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "ops/base/error.h"
#include "sdk/metrics/format.h"

namespace loom::metrics {
namespace {

namespace fs = std::filesystem;

class RunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("loom_runstore_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string DbPath() const { return (dir_ / "nested" / "loom.sqlite").string(); }
  fs::path dir_;
};

StepMetrics Step(int64_t step, double loss) {
  StepMetrics m;
  m.step = step;
  m.loss = loss;
  m.lr = 3e-4 * static_cast<double>(step);
  m.grad_norm = 0.5;
  m.tokens_per_s = 15300;
  m.step_time_s = 0.25;
  m.peak_mem_bytes = 1 << 20;
  return m;
}

template <typename Fn>
std::string ConfigErrorOf(Fn fn) {
  try {
    fn();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST_F(RunStoreTest, CreateLogFinishListShow) {
  RunStore store(DbPath());  // creates dir_/nested/
  EXPECT_TRUE(fs::exists(DbPath()));
  const int64_t a = store.CreateRun("tiny", R"({"train":{"lr":0.0003}})", 4);
  StepMetrics s1 = Step(1, 3.5);
  s1.extra = {{"eval_loss", 3.25}, {"expert_counts", {1, 2, 3}}};
  store.LogStep(a, s1);
  store.LogStep(a, Step(2, std::nan("")));  // NaN loss survives (NULL in SQLite)
  store.LogStep(a, Step(3, 3.0));
  store.LogEvent(a, 2, "eval", "eval loss 3.25");
  store.LogEvent(a, 3, "checkpoint", "saved runs/tiny/step_3");
  store.FinishRun(a, RunStatus::kCompleted);
  const int64_t b = store.CreateRun("tiny", "{}", 1);
  store.FinishRun(b, RunStatus::kFailed, "loss is NaN at step 7");

  const auto runs = store.ListRuns();
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].id, b);  // newest first
  EXPECT_EQ(runs[1].id, a);
  EXPECT_EQ(runs[1].num_steps, 3);
  EXPECT_EQ(runs[1].last_step, 3);
  EXPECT_EQ(runs[1].last_loss, 3.0);
  EXPECT_EQ(runs[1].world_size, 4);
  EXPECT_EQ(runs[1].status, RunStatus::kCompleted);
  EXPECT_GE(runs[1].ended_at, runs[1].started_at);
  EXPECT_EQ(runs[0].status, RunStatus::kFailed);
  EXPECT_EQ(runs[0].error, "loss is NaN at step 7");
  EXPECT_EQ(runs[0].num_steps, 0);
  EXPECT_EQ(runs[0].last_step, -1);

  EXPECT_EQ(store.GetRun(std::to_string(a)).config_json, R"({"train":{"lr":0.0003}})");
  EXPECT_EQ(store.GetRun("tiny").id, b);  // a name picks the newest run
  const std::string msg = ConfigErrorOf([&] { store.GetRun("nope"); });
  EXPECT_NE(msg.find("no run 'nope' in '" + DbPath() + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("loom runs list"), std::string::npos) << msg;

  const auto steps = store.GetSteps(a);
  ASSERT_EQ(steps.size(), 3u);
  EXPECT_EQ(steps[0].loss, 3.5);
  EXPECT_EQ(steps[0].lr, 3e-4);
  EXPECT_EQ(steps[0].peak_mem_bytes, 1 << 20);
  EXPECT_EQ(steps[0].extra["eval_loss"], 3.25);
  EXPECT_EQ(steps[0].extra["expert_counts"], nlohmann::json({1, 2, 3}));
  EXPECT_TRUE(std::isnan(steps[1].loss));
  EXPECT_EQ(steps[2].step, 3);

  const auto events = store.GetEvents(a);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].kind, "eval");
  EXPECT_EQ(events[0].step, 2);
  EXPECT_EQ(events[1].message, "saved runs/tiny/step_3");
  EXPECT_GT(events[1].time, 0);
}

TEST_F(RunStoreTest, RelogReplacesStepAndBadInputsThrow) {
  RunStore store(DbPath());
  const int64_t id = store.CreateRun("r", "{}", 1);
  store.LogStep(id, Step(5, 2.0));
  store.LogStep(id, Step(5, 1.5));  // resumed run logs step 5 again
  ASSERT_EQ(store.GetSteps(id).size(), 1u);
  EXPECT_EQ(store.GetSteps(id)[0].loss, 1.5);
  StepMetrics bad = Step(6, 1.0);
  bad.extra = nlohmann::json::array({1});
  EXPECT_THROW(store.LogStep(id, bad), Error);
  EXPECT_THROW(store.LogStep(id + 100, Step(1, 1.0)), Error);  // no such run
  EXPECT_THROW(store.FinishRun(id + 100, RunStatus::kCompleted), Error);
}

TEST_F(RunStoreTest, SecondConnectionSeesRowsWhileRunIsLive) {
  RunStore writer(DbPath());
  const int64_t id = writer.CreateRun("live", "{}", 2);
  RunStore reader(DbPath(), RunStore::Mode::kReadOnly);
  for (int64_t step = 1; step <= 20; ++step) {
    writer.LogStep(id, Step(step, 4.0 - 0.1 * static_cast<double>(step)));
    // Each committed step is visible at once, while the writer stays open.
    ASSERT_EQ(reader.GetSteps(id).size(), static_cast<size_t>(step));
  }
  EXPECT_EQ(reader.GetRun("live").status, RunStatus::kRunning);
  EXPECT_EQ(reader.GetRun("live").ended_at, 0);
  writer.FinishRun(id, RunStatus::kCompleted);
  EXPECT_EQ(reader.GetRun("live").status, RunStatus::kCompleted);

  // The journal is WAL (that is what lets readers and the writer overlap).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(DbPath().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(RunStoreTest, ThreadsShareOneStore) {
  RunStore store(DbPath());
  const int64_t id = store.CreateRun("threads", "{}", 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        store.LogStep(id, Step(t * 1000 + i, 1.0));
        store.LogEvent(id, i, "warning", "thread " + std::to_string(t));
        if (i % 10 == 0) store.ListRuns();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store.GetSteps(id).size(), 200u);
  EXPECT_EQ(store.GetEvents(id).size(), 200u);
}

TEST_F(RunStoreTest, BadPathsNameTheFix) {
  std::string msg = ConfigErrorOf([&] { RunStore s(DbPath(), RunStore::Mode::kReadOnly); });
  EXPECT_NE(msg.find("no run store at '" + DbPath() + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--db PATH"), std::string::npos) << msg;

  msg = ConfigErrorOf([&] { RunStore s("/proc/loom_no_such/x.sqlite"); });
  EXPECT_NE(msg.find("cannot create directory '/proc/loom_no_such'"), std::string::npos) << msg;

  fs::create_directories(dir_);
  msg = ConfigErrorOf([&] { RunStore s(dir_.string()); });
  EXPECT_NE(msg.find("is a directory"), std::string::npos) << msg;

  const std::string text = (dir_ / "notes.txt").string();
  std::ofstream(text) << "this is not a database, just some text that is long enough\n";
  msg = ConfigErrorOf([&] { RunStore s(text, RunStore::Mode::kReadOnly); });
  EXPECT_NE(msg.find("is not a run store"), std::string::npos) << msg;
  msg = ConfigErrorOf([&] { RunStore s(text); });
  EXPECT_NE(msg.find("is not a run store"), std::string::npos) << msg;
}

TEST_F(RunStoreTest, NewerSchemaVersionIsRefused) {
  { RunStore store(DbPath()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 99", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const std::string msg = ConfigErrorOf([&] { RunStore s(DbPath()); });
  EXPECT_NE(msg.find("schema version 99"), std::string::npos) << msg;
}

// A running run whose heartbeat is older than its bound reads as lost (and
// its duration stops at the last heartbeat); heartbeats keep it running; a
// reopened run is running again with its steps kept; a version 1 store is
// migrated when opened for writing and read as before when read-only.
TEST_F(RunStoreTest, SilentRunsReadAsLostAndReopenedRunsRunAgain) {
  RunStore store(DbPath());
  const int64_t lost = store.CreateRun("killed", "{}", 1, /*lost_after_s=*/0.2);
  const int64_t alive = store.CreateRun("alive", "{}", 1, 0.2);
  const int64_t unbounded = store.CreateRun("old", "{}", 1, 0);
  store.LogStep(lost, Step(0, 2.0));
  EXPECT_EQ(store.GetRun("killed").status, RunStatus::kRunning) << "a fresh heartbeat";
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(80));
    store.Heartbeat(alive);
  }
  const RunInfo r = store.GetRun("killed");
  EXPECT_EQ(r.status, RunStatus::kLost);
  EXPECT_STREQ(RunStatusName(r.status), "lost");
  EXPECT_EQ(r.ended_at, r.heartbeat_at) << "a lost run's duration stops at its last heartbeat";
  EXPECT_LT(r.DurationSeconds(), 0.2);
  EXPECT_EQ(store.GetRun("alive").status, RunStatus::kRunning);
  EXPECT_EQ(store.GetRun("old").status, RunStatus::kRunning) << "no bound: never lost";
  store.FinishRun(alive, RunStatus::kCompleted);
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  EXPECT_EQ(store.GetRun("alive").status, RunStatus::kCompleted) << "only running runs can be lost";
  EXPECT_TRUE(store.HasRun(lost, "killed"));
  EXPECT_FALSE(store.HasRun(lost, "alive"));
  store.ReopenRun(lost, R"({"resumed": true})", 3, 0.2);
  const RunInfo again = store.GetRun("killed");
  EXPECT_EQ(again.status, RunStatus::kRunning);
  EXPECT_EQ(again.world_size, 3);
  EXPECT_EQ(again.ended_at, 0);
  EXPECT_EQ(again.num_steps, 1) << "a resumed run keeps its steps";
  EXPECT_THROW(store.ReopenRun(999, "{}", 1, 1), Error);
  (void)unbounded;
}

TEST_F(RunStoreTest, VersionOneStoresAreMigrated) {
  fs::create_directories(fs::path(DbPath()).parent_path());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
  const char* v1 = R"sql(
    CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version VALUES (1);
    CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, config TEXT NOT NULL,
      status TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL, world_size INTEGER NOT NULL,
      error TEXT NOT NULL DEFAULT '');
    CREATE TABLE steps (run_id INTEGER NOT NULL, step INTEGER NOT NULL, loss REAL, lr REAL, grad_norm REAL,
      tokens_per_s REAL, step_time_s REAL, peak_mem_bytes INTEGER, extra TEXT NOT NULL DEFAULT '{}',
      PRIMARY KEY (run_id, step)) WITHOUT ROWID;
    CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, step INTEGER NOT NULL,
      time REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL);
    INSERT INTO runs (name, config, status, started_at, world_size) VALUES ('before', '{}', 'running', 1.0, 1);
  )sql";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  {
    RunStore ro(DbPath(), RunStore::Mode::kReadOnly);
    EXPECT_EQ(ro.GetRun("before").status, RunStatus::kRunning) << "read-only: read as version 1";
  }
  RunStore rw(DbPath());
  EXPECT_EQ(rw.GetRun("before").status, RunStatus::kRunning) << "no heartbeat recorded: never lost";
  const int64_t id = rw.CreateRun("after", "{}", 1, 0.05);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_EQ(rw.GetRun(std::to_string(id)).status, RunStatus::kLost) << "migrated: heartbeats work";
}

TEST(StepsToCsv, HeaderExtraColumnsAndQuoting) {
  StepMetrics a = Step(1, 3.5);
  a.extra = {{"eval_loss", 3.25}, {"note", "a,b \"c\""}};
  StepMetrics b = Step(2, std::nan(""));
  b.extra = {{"experts", {1, 2}}};
  EXPECT_EQ(StepsToCsv({a, b}),
            "step,loss,lr,grad_norm,tokens_per_s,step_time_s,peak_mem_bytes,eval_loss,experts,note\n"
            "1,3.5,0.0003,0.5,15300,0.25,1048576,3.25,,\"a,b \"\"c\"\"\"\n"
            "2,nan,0.0006,0.5,15300,0.25,1048576,,\"[1,2]\",\n");
  EXPECT_EQ(StepsToCsv({}), "step,loss,lr,grad_norm,tokens_per_s,step_time_s,peak_mem_bytes\n");
}

}  // namespace
}  // namespace loom::metrics
