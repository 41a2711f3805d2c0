// StudioApp: the window, the docked panels and the frame loop. A frame polls
// input, builds every panel from StudioState (the "UI build", timed: the
// studio's own per-frame cost, without rasterising and swap), renders,
// serves PNG captures and swaps. Modes: interactive (until closed), headless
// screenshots (N frames, then each panel as a PNG), and UI tests (the Dear
// ImGui Test Engine drives the real panels; ui_tests.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "studio/app/platform.h"
#include "studio/model/studio_state.h"
#include "studio/views/views.h"

struct ImGuiTestEngine;  // imgui_te_engine.h

namespace loom::studio {

struct AppOptions {
  int width = 1280, height = 800;
  std::string model_config;    // a config.json (loom_omni or an LLM's) to open in the composer
  std::string open_yaml;       // or a train.yaml the composer saved (opened on a worker)
  std::string store;           // run.db
  std::string data;            // data.train
  std::string runs_dir;        // run.dir
  std::vector<int64_t> compare;  // run ids ticked for the charts
  int64_t world = 0;           // 0: the default (2)
  int frames = 0;              // stop after N frames (0: until the window closes)
  std::string screenshots;     // folder: after `frames` frames, one PNG per panel + studio.png
  bool ui_test = false;        // run the UI tests (needs the Test Engine build)
  std::string export_dir;      // the charts' export folder
};

class StudioApp {
 public:
  explicit StudioApp(const AppOptions& options);
  ~StudioApp();

  int Run();  // the process exit code

  StudioState& state() { return *state_; }
  UiFrame& ui() { return ui_; }
  const AppOptions& options() const { return options_; }
  // UI build time of every frame so far, milliseconds.
  const std::vector<double>& ui_ms() const { return ui_ms_; }

 private:
  void Frame();
  void Dock();
  void ServeCaptures();

  AppOptions options_;
  std::unique_ptr<StudioState> state_;
  UiFrame ui_;
  std::unique_ptr<Window> window_;
  std::vector<double> ui_ms_;
  bool docked_ = false;
  struct TestEngine;
  std::unique_ptr<TestEngine> tests_;
};

#ifdef LOOM_STUDIO_TEST_ENGINE
void RegisterUiTests(ImGuiTestEngine* engine, StudioApp* app);
#endif

}  // namespace loom::studio
