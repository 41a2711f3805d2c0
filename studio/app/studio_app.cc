#include "studio/app/studio_app.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include "imgui.h"
#include "imgui_internal.h"
#include "imgui_node_editor.h"
#include "implot.h"
#include "studio/model/c_api.h"
#include "studio/model/ui_thread.h"
#ifdef LOOM_STUDIO_TEST_ENGINE
#include "imgui_te_engine.h"
#endif

namespace ed = ax::NodeEditor;

namespace loom::studio {

struct StudioApp::TestEngine {
#ifdef LOOM_STUDIO_TEST_ENGINE
  ImGuiTestEngine* engine = nullptr;
#endif
};

namespace {

nlohmann::json Registry() {
  char* out = nullptr;
  Check(loom_registry_json(&out), "loom_registry_json");
  return TakeJson(out);
}

}  // namespace

StudioApp::StudioApp(const AppOptions& options) : options_(options), tests_(std::make_unique<TestEngine>()) {
  MarkUiThread();
  state_ = std::make_unique<StudioState>(Registry());
  if (!options.model_config.empty()) {  // at start-up, before the first frame: reading it here stalls nothing
    std::ifstream in(options.model_config);
    if (!in) throw std::runtime_error("cannot read --config " + options.model_config + "; pass an existing config.json");
    state_->composition() = Composition::FromConfig(state_->registry(), nlohmann::json::parse(in));
  }
  if (!options.open_yaml.empty()) {
    state_->view().model_folder = options.open_yaml;
    state_->Open(options.open_yaml);
  }
  if (!options.store.empty()) state_->run().store = options.store;
  if (!options.data.empty()) state_->run().data_train = options.data;
  if (!options.runs_dir.empty()) state_->run().runs_dir = options.runs_dir;
  if (!options.export_dir.empty()) state_->view().export_dir = options.export_dir;
  if (options.world > 0) state_->world() = options.world;
  for (int64_t id : options.compare) state_->view().compared_runs.insert(id);

  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImPlot::CreateContext();
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // the layout is the studio's, not a file in the working directory
  io.ConfigFlags |= ImGuiConfigFlags_DockingEnable | ImGuiConfigFlags_NavEnableKeyboard;
  io.Fonts->AddFontDefaultVector();
  ImGui::GetStyle().FontSizeBase = 15.0f;
  ImGui::StyleColorsDark();
  window_ = std::make_unique<Window>(options.width, options.height, "Loom Studio", options.frames == 0 && !options.ui_test);
  ed::Config config;
  config.SettingsFile = nullptr;
  ui_.editor = ed::CreateEditor(&config);
#ifdef LOOM_STUDIO_TEST_ENGINE
  if (options.ui_test) {
    tests_->engine = ImGuiTestEngine_CreateContext();
    ImGuiTestEngineIO& io_te = ImGuiTestEngine_GetIO(tests_->engine);
    io_te.ConfigVerboseLevel = ImGuiTestVerboseLevel_Info;
    io_te.ConfigVerboseLevelOnError = ImGuiTestVerboseLevel_Debug;
    io_te.ConfigLogToTTY = true;
    io_te.ConfigNoThrottle = true;
    io_te.ConfigRunSpeed = ImGuiTestRunSpeed_Fast;
    ImGuiTestEngine_Start(tests_->engine, ImGui::GetCurrentContext());
    RegisterUiTests(tests_->engine, this);
    ImGuiTestEngine_QueueTests(tests_->engine, ImGuiTestGroup_Tests, nullptr, ImGuiTestRunFlags_RunFromCommandLine);
  }
#else
  if (options.ui_test)
    throw std::runtime_error("this loom-studio was built without the Test Engine; reconfigure with -DLOOM_STUDIO_TEST_ENGINE=ON");
#endif
}

StudioApp::~StudioApp() {
#ifdef LOOM_STUDIO_TEST_ENGINE
  if (tests_->engine) ImGuiTestEngine_Stop(tests_->engine);
#endif
  ed::DestroyEditor(ui_.editor);
  window_.reset();
  ImPlot::DestroyContext();
  ImGui::DestroyContext();
#ifdef LOOM_STUDIO_TEST_ENGINE
  if (tests_->engine) ImGuiTestEngine_DestroyContext(tests_->engine);
#endif
}

void StudioApp::Dock() {
  const ImGuiID dock = ImGui::DockSpaceOverViewport(0, ImGui::GetMainViewport());
  if (docked_) return;
  docked_ = true;
  ImGui::DockBuilderRemoveNode(dock);
  ImGui::DockBuilderAddNode(dock, ImGuiDockNodeFlags_DockSpace);
  ImGui::DockBuilderSetNodeSize(dock, ImGui::GetMainViewport()->Size);
  ImGuiID top = 0, bottom = 0, composer = 0, rest = 0, block = 0, strategy = 0, runs = 0, charts = 0;
  ImGui::DockBuilderSplitNode(dock, ImGuiDir_Down, 0.5f, &bottom, &top);
  ImGui::DockBuilderSplitNode(top, ImGuiDir_Left, 0.36f, &composer, &rest);
  ImGui::DockBuilderSplitNode(rest, ImGuiDir_Left, 0.36f, &block, &strategy);
  ImGui::DockBuilderSplitNode(bottom, ImGuiDir_Left, 0.3f, &runs, &charts);
  ImGui::DockBuilderDockWindow(kComposerWindow, composer);
  ImGui::DockBuilderDockWindow(kBlockWindow, block);
  ImGui::DockBuilderDockWindow(kStrategyWindow, strategy);
  ImGui::DockBuilderDockWindow(kRunsWindow, runs);
  ImGui::DockBuilderDockWindow(kChartsWindow, charts);
  ImGui::DockBuilderFinish(dock);
}

void StudioApp::Frame() {
  window_->BeginFrame();
  const auto start = std::chrono::steady_clock::now();
  ImGui::NewFrame();
  ui_.drawn_errors.clear();
  ui_.drawn_points.clear();
  Dock();
  state_->RequestPlanCheckIfChanged();
  DrawComposer(*state_, ui_);
  DrawBlock(*state_, ui_);
  DrawStrategy(*state_, ui_);
  DrawRuns(*state_, ui_);
  DrawCharts(*state_, ui_);
  ImGui::Render();
  ui_ms_.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  window_->Render();
  ServeCaptures();
#ifdef LOOM_STUDIO_TEST_ENGINE
  if (tests_->engine) ImGuiTestEngine_PreSwap(tests_->engine);
#endif
  window_->Swap();
#ifdef LOOM_STUDIO_TEST_ENGINE
  if (tests_->engine) ImGuiTestEngine_PostSwap(tests_->engine);
#endif
  ++ui_.frame;
}

void StudioApp::ServeCaptures() {
  for (const auto& c : ui_.captures) {
    float x = 0, y = 0, w = static_cast<float>(window_->width()), h = static_cast<float>(window_->height());
    if (!c.window.empty()) {
      const ImGuiWindow* win = ImGui::FindWindowByName(c.window.c_str());
      if (!win) continue;
      x = win->Pos.x, y = win->Pos.y, w = win->Size.x, h = win->Size.y;
    }
    state_->writer().WritePng(c.path, window_->Read(x, y, w, h));
  }
  ui_.captures.clear();
}

int StudioApp::Run() {
  const int frames = options_.frames;
  while (!window_->ShouldClose()) {
    if (!options_.screenshots.empty() && ui_.frame == frames - 1) {
      const std::string dir = options_.screenshots;
      for (const char* w : {kComposerWindow, kBlockWindow, kStrategyWindow, kRunsWindow, kChartsWindow}) {
        std::string name = w;
        std::transform(name.begin(), name.end(), name.begin(), [](unsigned char ch) { return std::tolower(ch); });
        ui_.captures.push_back({w, dir + "/" + name + ".png"});
      }
      ui_.captures.push_back({"", dir + "/studio.png"});
    }
    Frame();
#ifdef LOOM_STUDIO_TEST_ENGINE
    if (tests_->engine && ImGuiTestEngine_IsTestQueueEmpty(tests_->engine)) break;
#endif
    if (frames > 0 && ui_.frame >= frames) break;
  }
  state_->writer().Flush();
  for (const auto& d : state_->writer().Done()) std::printf("loom-studio: %s\n", d.c_str());
#ifdef LOOM_STUDIO_TEST_ENGINE
  if (tests_->engine) {
    ImGuiTestEngineResultSummary summary;
    ImGuiTestEngine_GetResultSummary(tests_->engine, &summary);
    std::printf("loom-studio: UI tests: %d of %d passed\n", summary.CountSuccess, summary.CountTested);
    return summary.CountTested > 0 && summary.CountSuccess == summary.CountTested ? 0 : 1;
  }
#endif
  return 0;
}

}  // namespace loom::studio
