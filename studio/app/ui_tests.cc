// The studio's UI tests: the Dear ImGui Test Engine drives the real panels
// (clicks, typing) of a real loom-studio window under Xvfb, and checks what
// they drew and what the studio did. One scenario, in order:
//   compose a small omni model (Qwen2-VL tower -> Qwen3) from the registry,
//   set an invalid plan (Ulysses SP 3 on 4 heads) and see its message at the
//   field, fix it (SP 2), save it as YAML, edit, open it back, launch a 2-rank run, see its metrics on the charts,
//   stop it, resume it from its checkpoint, stop it again, export its CSV.
// While the run streams, the UI build time of every frame is recorded; the
// test prints median / p95 / max and fails if the median exceeds 2 ms, or if
// any SQLite read, plan check or launch ran on the UI thread.
#ifdef LOOM_STUDIO_TEST_ENGINE

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "imgui.h"
#include "imgui_te_context.h"
#include "imgui_te_engine.h"
#include "studio/app/studio_app.h"
#include "studio/model/ui_thread.h"

namespace loom::studio {
namespace {

// Yields frames until `done` or `seconds` pass; true if done.
bool WaitFor(ImGuiTestContext* ctx, double seconds, const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    ctx->Yield();
  }
  return true;
}

size_t LaunchedSteps(StudioApp* app) {
  RunFeed* feed = app->state().LaunchedFeed();
  return feed ? feed->Snapshot().steps.size() : 0;
}

std::string LaunchedStatus(StudioApp* app) {
  RunFeed* feed = app->state().LaunchedFeed();
  if (!feed) return "";
  const auto s = feed->Snapshot();
  return s.run.is_object() ? s.run.value("status", "") : "";
}

bool PlanSettled(StudioApp* app) { return !app->state().plan_pending(); }

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

void ComposeOmni(ImGuiTestContext* ctx, StudioApp* app) {
  auto& c = app->state().composition();
  ctx->SetRef(kComposerWindow);
  ctx->ItemClick("Add qwen2_vision");
  ctx->ItemClick("Add qwen3");
  IM_CHECK_EQ(c.blocks().size(), 2u);
  IM_CHECK(!c.Problems().empty());  // the tower feeds nothing yet
  ctx->SetRef(kBlockWindow);
  ctx->ItemClick("vision");
  ctx->ItemCheck("vision/feeds the llm");
  ctx->ItemInputValue("vision/depth", 2);
  ctx->ItemInputValue("vision/embed_dim", 16);
  ctx->ItemInputValue("vision/num_heads", 2);
  ctx->ItemClick("llm");
  ctx->ItemInputValue("llm/hidden_size", 32);
  ctx->ItemInputValue("llm/intermediate_size", 48);
  ctx->ItemInputValue("llm/num_hidden_layers", 2);
  ctx->ItemInputValue("llm/num_attention_heads", 4);
  ctx->ItemInputValue("llm/num_key_value_heads", 2);
  ctx->ItemInputValue("llm/head_dim", 8);
  IM_CHECK(c.Problems().empty());
  IM_CHECK_EQ(c.blocks().at("vision").fields.value("depth", 0), 2);
  IM_CHECK_EQ(c.blocks().at("llm").fields.value("head_dim", 0), 8);
  IM_CHECK(c.blocks().at("vision").connected);
}

void InvalidThenValidPlan(ImGuiTestContext* ctx, StudioApp* app) {
  auto& state = app->state();
  ctx->SetRef(kStrategyWindow);
  ctx->ItemInputValue("world (ranks)", 2);
  ctx->ItemInputValue("blocks/llm/##sp", 3);
  IM_CHECK(WaitFor(ctx, 30, [&] { return PlanSettled(app); }));
  ctx->Yield(2);  // one frame draws the result
  const auto bad = state.plan();
  IM_CHECK(bad && !bad->valid);
  // Two problems: the mesh (about dp_shard, naming sp) and the heads (about sp).
  for (const char* leaf : {"sp", "dp_shard"}) {
    const std::string key = std::string("components.llm.parallel.") + leaf;
    IM_CHECK(app->ui().drawn_errors.count(key) == 1);
    std::printf("ui test: at %s the strategy panel shows: %s\n", key.c_str(), app->ui().drawn_errors.at(key).c_str());
    IM_CHECK(app->ui().drawn_errors.at(key).find("not divisible") != std::string::npos);
  }
  IM_CHECK(app->ui().drawn_errors.count("components.vision.parallel.sp") == 0);
  ctx->ItemInputValue("blocks/llm/##sp", 2);
  IM_CHECK(WaitFor(ctx, 30, [&] { return PlanSettled(app); }));
  ctx->Yield(2);
  const auto good = state.plan();
  IM_CHECK(good && good->valid);
  IM_CHECK(app->ui().drawn_errors.empty());
  IM_CHECK_EQ(good->report["plan"]["components"][1]["mesh"]["sp"].get<int>(), 2);
}

// Saved as config.json + train.yaml, edited, opened again: the saved graph is back.
void SaveEditOpen(ImGuiTestContext* ctx, StudioApp* app) {
  auto& state = app->state();
  const std::string folder = std::filesystem::absolute(state.view().export_dir).parent_path().string() + "/composed";
  ctx->SetRef(kComposerWindow);
  ctx->ItemInputValue("##folder", folder.c_str());
  ctx->ItemClick("Save");
  state.writer().Flush();
  IM_CHECK(std::filesystem::exists(folder + "/train.yaml") && std::filesystem::exists(folder + "/config.json"));
  ctx->SetRef(kBlockWindow);
  ctx->ItemClick("vision");
  ctx->ItemInputValue("vision/depth", 3);
  IM_CHECK_EQ(state.composition().blocks().at("vision").fields.value("depth", 0), 3);
  ctx->SetRef(kComposerWindow);
  ctx->ItemClick("Open");
  IM_CHECK(WaitFor(ctx, 30, [&] { return app->ui().status.rfind("opened", 0) == 0 || app->ui().status.rfind("cannot", 0) == 0; }));
  std::printf("ui test: %s\n", app->ui().status.c_str());
  IM_CHECK(app->ui().status.rfind("opened", 0) == 0);
  IM_CHECK_EQ(state.composition().blocks().at("vision").fields.value("depth", 0), 2);
  IM_CHECK_STR_EQ(state.composition().blocks().at("llm").parallel.at("sp").c_str(), "2");
  IM_CHECK(state.composition().blocks().at("vision").connected);
}

void LaunchWatchStopResume(ImGuiTestContext* ctx, StudioApp* app) {
  auto& state = app->state();
  ctx->SetRef(kRunsWindow);
  ctx->ItemInputValue("run.name", "ui_test");
  ctx->ItemInputValue("train.steps", 400);
  ctx->ItemInputValue("train.checkpoint_every", 4);
  IM_CHECK(!state.run().data_train.empty());
  ctx->ItemClick("Launch");
  std::printf("ui test: %s\n", app->ui().status.c_str());
  IM_CHECK(WaitFor(ctx, 120, [&] { return LaunchedSteps(app) >= 2 || state.launcher().State().phase == LaunchState::Phase::kEnded ||
                                          state.launcher().State().phase == LaunchState::Phase::kFailed; }));
  IM_CHECK_STR_EQ(PhaseName(state.launcher().State().phase), "running");
  // The run streams: time every frame's UI build until 10 more steps arrive.
  const size_t first_frame = app->ui_ms().size();
  const size_t steps_before = LaunchedSteps(app);
  IM_CHECK(WaitFor(ctx, 120, [&] { return LaunchedSteps(app) >= steps_before + 10; }));
  std::vector<double> streaming(app->ui_ms().begin() + static_cast<std::ptrdiff_t>(first_frame), app->ui_ms().end());
  ctx->Yield(2);
  IM_CHECK(app->ui().drawn_points["loss"] >= steps_before + 10);
  IM_CHECK(app->ui().drawn_points["tokens_per_s"] >= steps_before + 10);
  const double median = Percentile(streaming, 0.5);
  std::printf("ui test: while %zu steps streamed, %zu frames: UI build median %.3f ms, p95 %.3f ms, max %.3f ms (target median <= 2 ms); "
              "SQLite reads, plan checks and launches on the UI thread: %lld\n",
              LaunchedSteps(app) - steps_before, streaming.size(), median, Percentile(streaming, 0.95),
              *std::max_element(streaming.begin(), streaming.end()), static_cast<long long>(UiThreadBlockingCalls()));
  IM_CHECK(streaming.size() >= 10);
  IM_CHECK(median <= 2.0);
  IM_CHECK_EQ(UiThreadBlockingCalls(), 0);

  ctx->ItemClick("Stop");
  IM_CHECK(WaitFor(ctx, 60, [&] { return state.launcher().State().phase == LaunchState::Phase::kEnded && LaunchedStatus(app) == "cancelled"; }));
  const size_t stopped_at = LaunchedSteps(app);
  std::printf("ui test: stopped after %zu steps: run '%s', exit %d\n", stopped_at, LaunchedStatus(app).c_str(),
              state.launcher().State().exit_code);
  IM_CHECK(stopped_at < 400);

  ctx->ItemClick("Resume");
  IM_CHECK(WaitFor(ctx, 120, [&] { return state.launcher().State().launches == 2 && LaunchedSteps(app) >= stopped_at + 3; }));
  RunFeed* feed = state.LaunchedFeed();
  bool resumed = false;
  for (const auto& e : feed->Snapshot().events) resumed |= e.value("kind", "") == "resumed";
  IM_CHECK(resumed);
  ctx->ItemClick("Stop");
  IM_CHECK(WaitFor(ctx, 60, [&] { return state.launcher().State().phase == LaunchState::Phase::kEnded && feed->Ended(); }));
  std::printf("ui test: resumed from its checkpoint, stopped again after %zu steps (%s)\n", LaunchedSteps(app),
              LaunchedStatus(app).c_str());

  ctx->SetRef(kChartsWindow);
  ctx->ItemClick("Export CSV");
  ctx->ItemClick("Export PNG");
  ctx->Yield(2);
  state.writer().Flush();
  const std::string csv = state.view().export_dir + "/ui_test.csv";
  IM_CHECK(std::filesystem::exists(csv));
  IM_CHECK(std::filesystem::file_size(state.view().export_dir + "/charts.png") > 1000);
  std::printf("ui test: exported %s (%zu rows on the charts)\n", csv.c_str(), LaunchedSteps(app));
}

}  // namespace

void RegisterUiTests(ImGuiTestEngine* engine, StudioApp* app) {
  ImGuiTest* t = IM_REGISTER_TEST(engine, "studio", "compose_plan_launch_watch_stop");
  t->TestFunc = [app](ImGuiTestContext* ctx) {
    ComposeOmni(ctx, app);
    if (ctx->IsError()) return;
    InvalidThenValidPlan(ctx, app);
    if (ctx->IsError()) return;
    SaveEditOpen(ctx, app);
    if (ctx->IsError()) return;
    LaunchWatchStopResume(ctx, app);
  };
}

}  // namespace loom::studio

#endif  // LOOM_STUDIO_TEST_ENGINE
