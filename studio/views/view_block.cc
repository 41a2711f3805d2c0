// The selected block's settings form, generated from the registry's fields
// for its component (name, type, default): int, float, bool and string
// fields are edited in place through Composition::SetField (which refuses an
// unknown name or a wrong type); JSON fields are shown read-only. Joins the
// composer derives (the vision tower's output width, M-RoPE) are not fields.
#include <cstdint>
#include <string>

#include "imgui.h"
#include "studio/views/views.h"
#include "studio/views/widgets.h"

namespace loom::studio {
namespace {

const nlohmann::json* ComponentOf(const nlohmann::json& registry, const Block& b) {
  for (const auto& c : registry["components"])
    if (c["role"] == b.role && c["model_type"] == b.model_type) return &c;
  return nullptr;
}

void Field(Composition& composition, const Block& b, const nlohmann::json& field, UiFrame& ui) {
  const std::string name = field["name"], type = field["type"];
  if (name == "model_type" || (b.role == "vision" && name == "hidden_size")) return;  // fixed, or derived on save
  const nlohmann::json value = b.fields.contains(name) ? b.fields.at(name) : field["default"];
  try {
    if (type == "int") {
      int64_t v = value.is_number() ? value.get<int64_t>() : 0;
      if (ImGui::InputScalar(name.c_str(), ImGuiDataType_S64, &v, nullptr, nullptr, "%lld", ImGuiInputTextFlags_EnterReturnsTrue) ||
          (ImGui::IsItemDeactivatedAfterEdit()))
        composition.SetField(b.role, name, v);
    } else if (type == "float") {
      double v = value.is_number() ? value.get<double>() : 0.0;
      if (ImGui::InputDouble(name.c_str(), &v, 0.0, 0.0, "%.6g")) composition.SetField(b.role, name, v);
    } else if (type == "bool") {
      bool v = value.is_boolean() && value.get<bool>();
      if (ImGui::Checkbox(name.c_str(), &v)) composition.SetField(b.role, name, v);
    } else if (type == "string") {
      std::string v = value.is_string() ? value.get<std::string>() : "";
      if (InputString(name.c_str(), v)) composition.SetField(b.role, name, v);
    } else {
      ImGui::TextColored(kDimColor, "%s = %s", name.c_str(), value.dump().c_str());
    }
  } catch (const std::exception& e) {
    ui.status = e.what();
  }
}

}  // namespace

void DrawBlock(StudioState& state, UiFrame& ui) {
  if (!ImGui::Begin(kBlockWindow)) return ImGui::End();
  auto& composition = state.composition();
  auto& selected = state.view().selected_block;
  if (composition.blocks().empty()) {
    ImGui::TextColored(kDimColor, "no blocks yet: add one in the Composer");
    return ImGui::End();
  }
  for (const auto& [role, b] : composition.blocks()) {
    if (ImGui::RadioButton(role.c_str(), selected == role)) selected = role;
    ImGui::SameLine();
  }
  ImGui::NewLine();
  if (!composition.blocks().count(selected)) selected = composition.blocks().begin()->first;
  const Block b = composition.blocks().at(selected);  // a copy: edits below change the composition
  ImGui::Separator();
  ImGui::Text("%s: %s", b.role.c_str(), b.model_type.c_str());
  ImGui::PushID(b.role.c_str());
  if (b.role != "llm") {
    bool connected = b.connected;
    if (ImGui::Checkbox("feeds the llm", &connected)) {
      try {
        connected ? composition.Connect(b.role, "llm") : composition.Disconnect(b.role);
      } catch (const std::exception& e) {
        ui.status = e.what();
      }
    }
  }
  ImGui::SameLine();
  const bool remove = ImGui::Button("Remove block");
  ImGui::PushItemWidth(ImGui::GetFontSize() * 10);
  if (const auto* component = ComponentOf(state.registry(), b))
    for (const auto& field : (*component)["fields"]) Field(composition, b, field, ui);
  ImGui::PopItemWidth();
  ImGui::PopID();
  if (remove) {
    composition.RemoveBlock(b.role);
    ui.status = "removed the " + b.role + " block";
  }
  ImGui::End();
}

}  // namespace loom::studio
