// Small helpers the panels share.
#pragma once

#include <string>
#include <vector>

#include "imgui.h"
#include "studio/views/views.h"

namespace loom::studio {

inline const ImVec4 kErrorColor{1.0f, 0.42f, 0.38f, 1.0f};
inline const ImVec4 kOkColor{0.45f, 0.85f, 0.45f, 1.0f};
inline const ImVec4 kDimColor{0.6f, 0.6f, 0.6f, 1.0f};

// Draws the latest plan's errors at `key` under the field just drawn, and
// records them in ui.drawn_errors. Returns true if any.
bool InlineErrors(const StudioState& state, UiFrame& ui, const std::string& key);
void WrappedColored(const ImVec4& color, const std::string& text);
// An InputText over a std::string; true when edited.
bool InputString(const char* label, std::string& value);
std::string Bytes(double bytes);

}  // namespace loom::studio
