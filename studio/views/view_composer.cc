// The composer: the registry's blocks as a node graph. An encoder's output
// pin carries its modality (image, audio) into the foundation's matching
// input pin; dragging a link connects, deleting one disconnects, clicking a
// node selects it for the Block panel. What stops the graph from saving
// (Composition::Problems) is listed under the canvas.
#include <string>

#include "imgui.h"
#include "imgui_node_editor.h"
#include "studio/views/views.h"
#include "studio/views/widgets.h"

namespace ed = ax::NodeEditor;

namespace loom::studio {
namespace {

// Stable ids: node = role index * 10 + 1, its output pin +2, the foundation's
// input pins 100 + modality, links 200 + modality.
int RoleIndex(const std::string& role) { return role == "vision" ? 1 : role == "audio" ? 2 : 3; }
ed::NodeId NodeOf(const std::string& role) { return RoleIndex(role) * 10 + 1; }
ed::PinId OutputOf(const std::string& role) { return RoleIndex(role) * 10 + 2; }
ed::PinId InputFor(const std::string& role) { return 100 + RoleIndex(role); }
ed::LinkId LinkOf(const std::string& role) { return 200 + RoleIndex(role); }
const char* ModalityOf(const std::string& role) { return role == "vision" ? "image" : "audio"; }

std::string RoleOfPin(ed::PinId pin) {
  for (const char* role : {"vision", "audio"})
    if (pin == OutputOf(role) || pin == InputFor(role)) return role;
  return "";
}

// Save writes FOLDER/config.json + FOLDER/train.yaml; Open reads FOLDER/train.yaml
// (or the .yaml named), both off the UI thread.
void Files(StudioState& state, UiFrame& ui) {
  auto& folder = state.view().model_folder;
  ImGui::SetNextItemWidth(ImGui::GetFontSize() * 14);
  InputString("##folder", folder);
  ImGui::SameLine();
  ImGui::BeginDisabled(!state.composition().Problems().empty());
  if (ImGui::Button("Save")) {
    state.Save(folder);
    ui.status = "saving " + folder + "/config.json and train.yaml";
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Open")) {
    const bool yaml = folder.size() > 5 && (folder.rfind(".yaml") == folder.size() - 5 || folder.rfind(".yml") == folder.size() - 4);
    state.Open(yaml ? folder : folder + "/train.yaml");
    ui.status = "opening " + folder;
  }
  if (const std::string opened = state.PollOpen(); !opened.empty()) ui.status = opened;
}

void Toolbar(StudioState& state, UiFrame& ui) {
  auto& composition = state.composition();
  const float right = ImGui::GetWindowPos().x + ImGui::GetWindowContentRegionMax().x;
  bool first = true;
  for (const auto& c : state.registry()["components"]) {
    const std::string role = c["role"], type = c["model_type"], label = "Add " + type;
    const bool taken = composition.blocks().count(role) > 0;
    // Wrap the buttons to the panel's width.
    const float width = ImGui::CalcTextSize(label.c_str()).x + ImGui::GetStyle().FramePadding.x * 2;
    if (!first && ImGui::GetItemRectMax().x + ImGui::GetStyle().ItemSpacing.x + width <= right) ImGui::SameLine();
    first = false;
    ImGui::BeginDisabled(taken);
    if (ImGui::Button(label.c_str())) {
      try {
        composition.AddBlock(role, type);
        state.view().selected_block = role;
        ui.status = "added " + role + " block " + type;
      } catch (const std::exception& e) {
        ui.status = e.what();
      }
    }
    ImGui::EndDisabled();
    if (ImGui::IsItemHovered(ImGuiHoveredFlags_AllowWhenDisabled))
      ImGui::SetTooltip("%s", taken ? ("one " + role + " block per model: remove the current one first").c_str()
                                    : (role + " block, " + std::string(c.value("modality", "text")) + " in").c_str());
  }
}

}  // namespace

void DrawComposer(StudioState& state, UiFrame& ui) {
  if (!ImGui::Begin(kComposerWindow)) return ImGui::End();
  auto& composition = state.composition();
  Files(state, ui);
  Toolbar(state, ui);
  const auto problems = composition.Problems();
  const float footer = ImGui::GetFrameHeightWithSpacing() * static_cast<float>(problems.empty() ? 1 : problems.size()) +
                       ImGui::GetStyle().ItemSpacing.y;

  ed::SetCurrentEditor(ui.editor);
  ed::Begin("graph", ImVec2(0, -footer));
  float y = 20;
  for (const auto& [role, block] : composition.blocks()) {
    const bool foundation = role == "llm";
    ed::SetNodePosition(NodeOf(role), foundation ? ImVec2(320, 60) : ImVec2(20, y));  // fixed layout: a clear picture
    if (!foundation) y += 130;
    ed::BeginNode(NodeOf(role));
    ImGui::TextUnformatted((role + ": " + block.model_type).c_str());
    const auto& f = block.fields;
    if (foundation) {
      ImGui::TextColored(kDimColor, "%lld layers, hidden %lld", static_cast<long long>(f.value("num_hidden_layers", 0)),
                         static_cast<long long>(f.value("hidden_size", 0)));
      for (const char* in : {"vision", "audio"}) {
        ed::BeginPin(InputFor(in), ed::PinKind::Input);
        ImGui::Text("-> %s in", ModalityOf(in));
        ed::EndPin();
      }
    } else {
      const char* layers = role == "vision" ? "depth" : "encoder_layers";
      ImGui::TextColored(kDimColor, "%lld layers", static_cast<long long>(f.value(layers, 0)));
      ed::BeginPin(OutputOf(role), ed::PinKind::Output);
      ImGui::Text("%s out ->", ModalityOf(role));
      ed::EndPin();
    }
    ed::EndNode();
    if (ed::IsNodeSelected(NodeOf(role))) state.view().selected_block = role;
  }
  for (const auto& [role, block] : composition.blocks())
    if (role != "llm" && block.connected && composition.blocks().count("llm")) ed::Link(LinkOf(role), OutputOf(role), InputFor(role));

  if (ed::BeginCreate()) {
    ed::PinId a, b;
    if (ed::QueryNewLink(&a, &b) && a && b) {
      const std::string from = RoleOfPin(a), to = RoleOfPin(b);
      if (!from.empty() && from == to && composition.blocks().count(from) && composition.blocks().count("llm")) {
        if (ed::AcceptNewItem()) {
          composition.Connect(from, "llm");
          ui.status = "connected " + from + " -> llm";
        }
      } else {
        ed::RejectNewItem(kErrorColor, 2.0f);  // another modality's pin, or no foundation yet
      }
    }
  }
  ed::EndCreate();
  if (ed::BeginDelete()) {
    ed::LinkId link;
    while (ed::QueryDeletedLink(&link)) {
      for (const char* role : {"vision", "audio"})
        if (link == LinkOf(role) && ed::AcceptDeletedItem()) composition.Disconnect(role);
    }
    ed::NodeId node;
    while (ed::QueryDeletedNode(&node)) ed::RejectNewItem();  // nodes go through the Block panel's Remove
  }
  ed::EndDelete();
  if (ui.frame == 2) ed::NavigateToContent(0.0f);
  ed::End();
  ed::SetCurrentEditor(nullptr);

  if (problems.empty()) {
    ImGui::TextColored(kOkColor, "graph complete: %zu block(s)", composition.blocks().size());
  } else {
    for (const auto& p : problems) WrappedColored(kErrorColor, p);
  }
  ImGui::End();
}

}  // namespace loom::studio
