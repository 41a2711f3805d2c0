// studio/model's other pieces without a window: chart series and the CSV
// export, the launcher's refusals, the run catalog, StudioState's launch
// checks, and the file writer.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "studio/model/c_api.h"
#include "tests/studio/fixtures.h"
#include "studio/model/file_writer.h"
#include "studio/model/launcher.h"
#include "studio/model/run_catalog.h"
#include "studio/model/series.h"
#include "studio/model/studio_state.h"

namespace loom::studio {
namespace {

template <typename F>
bool Eventually(F done, int seconds = 60) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

std::vector<nlohmann::json> Rows() {
  return {
      nlohmann::json::parse(R"({"step": 0, "loss": 2.5, "lr": 0.001, "grad_norm": 1.25, "tokens_per_s": 1000.5,
        "step_time_s": 0.1, "peak_mem_bytes": 1024,
        "extra": {"loss_by_modality": {"image": 3.0, "text": 2.25}, "data_wait_share": 0.125}})"),
      nlohmann::json::parse(R"({"step": 1, "loss": null, "lr": 0.002, "grad_norm": 1.5, "tokens_per_s": 999,
        "step_time_s": 0.2, "peak_mem_bytes": 2048, "extra": {"checkpoint_s": 0.5, "note": "a,b"}})"),
  };
}

TEST(SeriesTest, MetricsAreTheColumnsThenTheExtraLeaves) {
  const auto rows = Rows();
  const auto metrics = MetricsOf(rows);
  const std::vector<std::string> expected = {"loss", "lr", "grad_norm", "tokens_per_s", "step_time_s", "peak_mem_bytes",
                                             "checkpoint_s", "data_wait_share", "loss_by_modality.image",
                                             "loss_by_modality.text"};
  EXPECT_EQ(metrics, expected);
  EXPECT_EQ(ModalityLosses(rows), (std::vector<std::string>{"loss_by_modality.image", "loss_by_modality.text"}));
  const Series loss = SeriesOf(rows, "loss");  // a NaN (null) loss is left out, not drawn as 0
  EXPECT_EQ(loss.x, std::vector<double>{0});
  EXPECT_EQ(loss.y, std::vector<double>{2.5});
  const Series image = SeriesOf(rows, "loss_by_modality.image");
  EXPECT_EQ(image.y, std::vector<double>{3.0});
  EXPECT_TRUE(SeriesOf(rows, "no_such_metric").x.empty());
}

TEST(SeriesTest, CsvHasTheStoreExportsColumnsAndQuoting) {
  EXPECT_EQ(StepsCsv(Rows()),
            "step,loss,lr,grad_norm,tokens_per_s,step_time_s,peak_mem_bytes,checkpoint_s,data_wait_share,loss_by_modality,note\n"
            "0,2.5,0.001,1.25,1000.5,0.1,1024,,0.125,\"{\"\"image\"\":3.0,\"\"text\"\":2.25}\",\n"
            "1,nan,0.002,1.5,999,0.2,2048,0.5,,,\"a,b\"\n");
}

TEST(LauncherTest, ResumeBeforeALaunchAndAnUnwritableFolderFailWithWhy) {
  Launcher launcher;
  launcher.Resume();
  ASSERT_TRUE(Eventually([&] { return launcher.State().phase == LaunchState::Phase::kFailed; }));
  EXPECT_NE(launcher.State().error.find("nothing to resume: launch a run first"), std::string::npos) << launcher.State().error;
  launcher.Start({"/proc/loom_cannot_write_here", "{}", "model: {}\n", {}, 1});
  ASSERT_TRUE(Eventually([&] { return launcher.State().phase == LaunchState::Phase::kFailed; }));
  EXPECT_NE(launcher.State().error.find("/proc/loom_cannot_write_here"), std::string::npos) << launcher.State().error;
  EXPECT_EQ(launcher.State().launches, 0);
}

TEST(LauncherTest, ARunThatFailsEndsWithItsExitCodeAndItsLog) {
  const std::string work = testing::Workdir("launch_fail");
  Launcher launcher;
  // A YAML with an unknown key: `loom train` refuses it and exits non-zero.
  launcher.Start({work + "/run", "", "train: {stepz: 3}\n", {}, 1});
  ASSERT_TRUE(Eventually([&] { return launcher.State().phase == LaunchState::Phase::kEnded; }));
  EXPECT_NE(launcher.State().exit_code, 0);
  EXPECT_EQ(launcher.State().launches, 1);
  std::ifstream log(work + "/run/launch.log");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("did you mean 'train.steps'"), std::string::npos) << text;
}

TEST(RunCatalogTest, AnAbsentStoreIsAnEmptyListThenItsRuns) {
  const std::string work = testing::Workdir("catalog");
  RunCatalog catalog(std::chrono::milliseconds(20));
  catalog.SetStore(work + "/runs.sqlite");
  ASSERT_TRUE(Eventually([&] { return catalog.Snapshot().reads > 0; }));
  EXPECT_TRUE(catalog.Snapshot().runs.empty());
  EXPECT_EQ(catalog.Snapshot().error, "");
  // A tiny run on a few KB of the novel writes the store; the catalog lists it.
  const std::string data = testing::BuildNovelDataset(work, 8000);
  const std::string yaml =
      "model: {family: qwen3, vocab_size: 151936, hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1,\n"
      "        num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8}\n"
      "data: {seq_len: 16, micro_batch_size: 2}\n"
      "train: {steps: 2, eval_every: 0, warmup_steps: 1}\n";
  const std::string db = "--run.db=" + work + "/runs.sqlite", dir = "--run.dir=" + work + "/runs", train = "--data.train=" + data;
  const char* o[] = {db.c_str(), dir.c_str(), "--run.name=listed", train.c_str()};
  loom_config* raw = nullptr;
  ASSERT_EQ(loom_config_parse(&raw, yaml.c_str(), "tiny", o, 4), LOOM_OK) << loom_last_error_message();
  ConfigPtr cfg(raw);
  loom_trainer* t = nullptr;
  ASSERT_EQ(loom_trainer_create(&t, cfg.get(), nullptr), LOOM_OK) << loom_last_error_message();
  ASSERT_EQ(loom_trainer_run(t), LOOM_OK) << loom_last_error_message();
  loom_trainer_destroy(t);
  ASSERT_TRUE(Eventually([&] { return catalog.Snapshot().runs.size() == 1; }));
  EXPECT_EQ(catalog.Snapshot().runs[0]["name"], "listed");
}

TEST(StudioStateTest, LaunchIsRefusedWithTheReasonUntilThePlanIsValidAndDataIsSet) {
  char* out = nullptr;
  Check(loom_registry_json(&out), "loom_registry_json");
  StudioState state(TakeJson(out));
  EXPECT_NE(state.Launch().find("no foundation: add an llm block"), std::string::npos);
  state.composition().AddBlock("llm", "qwen3");
  state.composition().SetField("llm", "num_attention_heads", 4);
  state.composition().SetParallel("llm", "sp", "3");
  state.world() = 3;
  state.RequestPlanCheckIfChanged();
  ASSERT_TRUE(Eventually([&] { return !state.plan_pending(); }));
  state.RequestPlanCheckIfChanged();  // the next frame: takes the new result, requests nothing new
  EXPECT_FALSE(state.plan_pending());
  EXPECT_NE(state.Launch().find("the plan is invalid"), std::string::npos) << state.Launch();
  EXPECT_FALSE(state.ErrorsAt("parallel.sp").empty());  // an LLM alone: the plain parallel.* key
  state.composition().SetParallel("llm", "sp", "1");
  state.RequestPlanCheckIfChanged();
  EXPECT_NE(state.Launch().find("being checked"), std::string::npos);  // never a launch on a stale result
  ASSERT_TRUE(Eventually([&] { return !state.plan_pending(); }));
  state.RequestPlanCheckIfChanged();
  ASSERT_TRUE(state.plan()->valid);
  EXPECT_TRUE(state.ErrorsAt("parallel.sp").empty());
  EXPECT_NE(state.Launch().find("set data.train"), std::string::npos);
  EXPECT_EQ(state.launcher().State().launches, 0);
}

TEST(FileWriterTest, WritesTextAndPngAndSaysWhyNot) {
  const std::string work = testing::Workdir("writer");
  FileWriter writer;
  writer.WriteText(work + "/a/b.csv", "x,y\n1,2\n");
  writer.WritePng(work + "/c.png", RgbaImage{2, 1, {255, 0, 0, 255, 0, 255, 0, 255}});
  writer.WriteText("/proc/loom_no/x.csv", "x");
  writer.Flush();
  const auto done = writer.Done();
  ASSERT_EQ(done.size(), 3u);
  EXPECT_EQ(done[0], "wrote " + work + "/a/b.csv");
  EXPECT_EQ(done[1], "wrote " + work + "/c.png");
  EXPECT_NE(done[2].find("cannot write /proc/loom_no/x.csv"), std::string::npos) << done[2];
  std::ifstream png(work + "/c.png", std::ios::binary);
  char magic[4] = {};
  png.read(magic, 4);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
}

}  // namespace
}  // namespace loom::studio
