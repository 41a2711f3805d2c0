// The studio's panels, one per file, each a Dear ImGui window drawn from
// StudioState every frame. UiFrame carries what a frame's panels share: the
// node editor, requests the app serves after rendering (PNG captures), and
// what the panels drew (the UI tests check it: an error shown at its field,
// points on a chart).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "studio/model/studio_state.h"

namespace ax::NodeEditor {
struct EditorContext;
}

namespace loom::studio {

struct CaptureRequest {
  std::string window;  // a panel's window name ("" = the whole studio)
  std::string path;    // PNG written there (on the FileWriter's worker)
};

struct UiFrame {
  ax::NodeEditor::EditorContext* editor = nullptr;
  int64_t frame = 0;
  std::vector<CaptureRequest> captures;        // served after this frame renders
  std::map<std::string, std::string> drawn_errors;  // config key -> the message drawn at its field this frame
  std::map<std::string, size_t> drawn_points;  // chart metric -> points drawn this frame (all runs)
  std::string status;                          // the last action's message (kept across frames)
};

// Window names (the UI tests and the screenshots refer to them).
inline constexpr const char* kComposerWindow = "Composer";
inline constexpr const char* kBlockWindow = "Block";
inline constexpr const char* kStrategyWindow = "Strategy";
inline constexpr const char* kRunsWindow = "Runs";
inline constexpr const char* kChartsWindow = "Charts";

void DrawComposer(StudioState& state, UiFrame& ui);
void DrawBlock(StudioState& state, UiFrame& ui);
void DrawStrategy(StudioState& state, UiFrame& ui);
void DrawRuns(StudioState& state, UiFrame& ui);
void DrawCharts(StudioState& state, UiFrame& ui);

}  // namespace loom::studio
