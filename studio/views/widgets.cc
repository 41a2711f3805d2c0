#include "studio/views/widgets.h"

#include <cstdio>

#include "imgui_internal.h"

namespace loom::studio {

void WrappedColored(const ImVec4& color, const std::string& text) {
  ImGui::PushStyleColor(ImGuiCol_Text, color);
  ImGui::TextWrapped("%s", text.c_str());
  ImGui::PopStyleColor();
}

bool InlineErrors(const StudioState& state, UiFrame& ui, const std::string& key) {
  const auto errors = state.ErrorsAt(key);
  for (const auto& e : errors) WrappedColored(kErrorColor, e);
  if (!errors.empty()) ui.drawn_errors[key] = errors.front();
  for (const auto& other : state.AlsoNamedBy(key)) {
    const std::string leaf = other.substr(other.rfind('.') + 1);
    WrappedColored(kErrorColor, "(in the " + leaf + " error)");
    ui.drawn_errors.emplace(key, "see " + other);
  }
  return !errors.empty();
}

bool InputString(const char* label, std::string& value) {
  char buf[1024];
  std::snprintf(buf, sizeof(buf), "%s", value.c_str());
  if (!ImGui::InputText(label, buf, sizeof(buf))) return false;
  value = buf;
  return true;
}

std::string Bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace loom::studio
