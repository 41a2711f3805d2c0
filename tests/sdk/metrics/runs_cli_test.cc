// `loom runs list|show` end to end: real processes against a fixture store,
// including a reader process while the writer is still logging.
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "sdk/metrics/format.h"
#include "sdk/metrics/run_store.h"
#include "tests/testing/subprocess.h"

namespace loom::metrics {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code;
  std::string output;  // stdout + stderr
};

Result Loom(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {LOOM_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  const testing::Child child = testing::Spawn(argv);
  Result r{-1, ""};
  testing::ReadUntil(child, "", 60, &r.output);  // until EOF
  r.code = testing::WaitExit(child, 60);
  close(child.output_fd);
  return r;
}

class RunsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("loom_runs_cli_test_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    db_ = (dir_ / "loom.sqlite").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Two runs: "alpha" completed with 3 steps and an event, "beta" failed.
  void Fixture() {
    RunStore store(db_);
    const int64_t a = store.CreateRun("alpha", R"({"train":{"lr":0.001}})", 2);
    for (int64_t s = 1; s <= 3; ++s) {
      StepMetrics m;
      m.step = s;
      m.loss = 4.0 - 0.5 * static_cast<double>(s);
      m.lr = 1e-3;
      m.grad_norm = 0.75;
      m.tokens_per_s = 12000;
      m.step_time_s = 0.5;
      m.peak_mem_bytes = 200 << 20;
      if (s == 3) m.extra = {{"eval_loss", 2.75}};
      store.LogStep(a, m);
    }
    store.LogEvent(a, 3, "eval", "eval loss 2.75");
    store.FinishRun(a, RunStatus::kCompleted);
    const int64_t b = store.CreateRun("beta", "{}", 1);
    store.FinishRun(b, RunStatus::kFailed, "rank 1 died");
  }

  fs::path dir_;
  std::string db_;
};

TEST_F(RunsCliTest, ListShowsEveryRun) {
  Fixture();
  const Result r = Loom({"runs", "list", "--db", db_});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("id  name   status     steps  last loss  started"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("1   alpha  completed  3      2.5000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2   beta   failed     0      -"), std::string::npos) << r.output;
  EXPECT_LT(r.output.find("beta"), r.output.find("alpha"));  // newest first
}

TEST_F(RunsCliTest, ShowByNameAndId) {
  Fixture();
  Result r = Loom({"runs", "show", "alpha", "--db", db_});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("run 1 'alpha' (completed)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("steps (3):"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("2.5000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("{\"eval_loss\":2.75}"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("eval loss 2.75"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\"lr\": 0.001"), std::string::npos) << r.output;  // config
  r = Loom({"runs", "show", "2", "--db", db_});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("error     rank 1 died"), std::string::npos) << r.output;
}

TEST_F(RunsCliTest, CsvIsExactlyTheSteps) {
  Fixture();
  const Result r = Loom({"runs", "show", "alpha", "--csv", "--db", db_});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output,
            "step,loss,lr,grad_norm,tokens_per_s,step_time_s,peak_mem_bytes,eval_loss\n"
            "1,3.5,0.001,0.75,12000,0.5,209715200,\n"
            "2,3,0.001,0.75,12000,0.5,209715200,\n"
            "3,2.5,0.001,0.75,12000,0.5,209715200,2.75\n");
}

TEST_F(RunsCliTest, ErrorsNameTheFix) {
  Result r = Loom({"runs", "list", "--db", db_});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no run store at '" + db_ + "'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(db_));  // reading never creates a store
  Fixture();
  r = Loom({"runs", "show", "gamma", "--db", db_});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no run 'gamma'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("loom runs list --db"), std::string::npos) << r.output;
}

TEST_F(RunsCliTest, AnotherProcessSeesALiveRun) {
  RunStore writer(db_);
  const int64_t id = writer.CreateRun("live", "{}", 1);
  for (int64_t s = 1; s <= 2; ++s) {
    StepMetrics m;
    m.step = s;
    m.loss = 1.25;
    writer.LogStep(id, m);
  }
  const Result r = Loom({"runs", "list", "--db", db_});  // writer still open
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("live  running  2      1.2500"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace loom::metrics
