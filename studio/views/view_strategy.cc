// The strategy panel: the world size, then per block its mesh (FSDP shard,
// HSDP replicas, Ulysses SP, EP), recompute, gathered-parameter precision and
// CPU offload, each validated live on PlanChecker's worker; the plan's own
// messages are drawn under the field whose key they name (a table: one row
// per setting, one column per block). Under the form,
// the per-rank memory estimate of each block as a stacked bar chart.
#include <functional>
#include <string>
#include <vector>

#include "imgui.h"
#include "implot.h"
#include "studio/views/views.h"
#include "studio/views/widgets.h"

namespace loom::studio {
namespace {

struct IntLeaf {
  const char* leaf;
  int64_t fallback;  // the value when unset (the config's default)
  const char* help;
};
const IntLeaf kMesh[] = {{"dp_shard", -1, "FSDP shard size (-1: the rest of the world)"},
                         {"dp_replicate", 1, "HSDP replicas"},
                         {"sp", 1, "Ulysses sequence-parallel size"},
                         {"ep", 1, "expert-parallel size (MoE foundations)"}};

std::string ValueOf(const Block& b, const std::string& leaf, const std::string& fallback) {
  const auto it = b.parallel.find(leaf);
  return it == b.parallel.end() ? fallback : it->second;
}

void Combo(Composition& c, const Block& b, const char* id, const char* leaf, std::initializer_list<const char*> choices,
           const char* fallback) {
  const std::string current = ValueOf(b, leaf, fallback);
  if (!ImGui::BeginCombo(id, current.c_str())) return;
  for (const char* choice : choices)
    if (ImGui::Selectable(choice, current == choice)) c.SetParallel(b.role, leaf, choice);
  ImGui::EndCombo();
}

// One row of the form: a leaf's widget for every block (a column each), with
// the plan's errors at that key under it. Widget ids: "<role>/##<leaf>".
void Row(StudioState& state, UiFrame& ui, const std::vector<Block>& blocks, const char* leaf, const char* help,
         const std::function<void(const Block&, const std::string&)>& widget) {
  ImGui::TableNextRow();
  ImGui::TableNextColumn();
  ImGui::TextUnformatted(leaf);
  if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", help);
  for (const auto& b : blocks) {
    ImGui::TableNextColumn();
    ImGui::PushID(b.role.c_str());
    ImGui::SetNextItemWidth(-FLT_MIN);
    widget(b, std::string("##") + leaf);
    InlineErrors(state, ui, state.composition().ParallelKey(b.role, leaf));
    ImGui::PopID();
  }
}

void Form(StudioState& state, UiFrame& ui) {
  auto& c = state.composition();
  std::vector<Block> blocks;  // copies: the widgets edit the composition
  for (const auto& [role, b] : c.blocks()) blocks.push_back(b);
  if (blocks.empty()) return;
  const ImGuiTableFlags flags = ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_RowBg | ImGuiTableFlags_SizingStretchSame;
  if (!ImGui::BeginTable("blocks", static_cast<int>(blocks.size()) + 1, flags)) return;
  ImGui::TableSetupColumn("", ImGuiTableColumnFlags_WidthFixed, ImGui::GetFontSize() * 7);
  for (const auto& b : blocks) ImGui::TableSetupColumn((b.role + " (" + b.model_type + ")").c_str());
  ImGui::TableHeadersRow();
  for (const auto& m : kMesh) {
    Row(state, ui, blocks, m.leaf, m.help, [&](const Block& b, const std::string& id) {
      int64_t v = std::stoll(ValueOf(b, m.leaf, std::to_string(m.fallback)));
      if (ImGui::InputScalar(id.c_str(), ImGuiDataType_S64, &v, nullptr, nullptr, "%lld", ImGuiInputTextFlags_EnterReturnsTrue) ||
          ImGui::IsItemDeactivatedAfterEdit()) {
        if (v == m.fallback) c.ClearParallel(b.role, m.leaf); else c.SetParallel(b.role, m.leaf, std::to_string(v));
      }
    });
  }
  Row(state, ui, blocks, "recompute", "activation recompute: none, selective (each layer's MLP) or full",
      [&](const Block& b, const std::string& id) { Combo(c, b, id.c_str(), "recompute", {"none", "selective", "full"}, "none"); });
  Row(state, ui, blocks, "param_dtype", "dtype of FSDP's gathered parameters (shards stay fp32)",
      [&](const Block& b, const std::string& id) { Combo(c, b, id.c_str(), "param_dtype", {"fp32", "bf16"}, "fp32"); });
  Row(state, ui, blocks, "cpu_offload", "keep shards, gradients and optimizer state on the CPU",
      [&](const Block& b, const std::string& id) {
        bool offload = ValueOf(b, "cpu_offload", "false") == "true";
        if (ImGui::Checkbox(id.c_str(), &offload)) c.SetParallel(b.role, "cpu_offload", offload ? "true" : "false");
      });
  ImGui::EndTable();
}

void MemoryChart(const nlohmann::json& memory) {
  std::vector<std::string> blocks;
  for (const auto& item : memory.items())
    if (item.value().is_object()) blocks.push_back(item.key());
  const char* parts[] = {"param_bytes", "grad_bytes", "optimizer_bytes", "activation_bytes", "gathered_unit_bytes"};
  const char* labels[] = {"params", "grads", "optimizer", "activations", "gathered unit"};
  std::vector<double> mib;  // [part][block]
  for (const char* p : parts)
    for (const auto& b : blocks) mib.push_back(memory[b].value(p, 0.0) / (1024.0 * 1024.0));
  std::vector<const char*> names;
  std::vector<double> ticks;
  for (size_t i = 0; i < blocks.size(); ++i) names.push_back(blocks[i].c_str()), ticks.push_back(static_cast<double>(i));
  if (ImPlot::BeginPlot("memory per rank (MiB)", ImVec2(-1, 220))) {
    ImPlot::SetupAxes(nullptr, "MiB", ImPlotAxisFlags_AutoFit, ImPlotAxisFlags_AutoFit);
    ImPlot::SetupAxisTicks(ImAxis_X1, ticks.data(), static_cast<int>(ticks.size()), names.data());
    ImPlotSpec spec;
    spec.Flags = ImPlotBarGroupsFlags_Stacked;
    if (!blocks.empty()) ImPlot::PlotBarGroups(labels, mib.data(), 5, static_cast<int>(blocks.size()), 0.6, 0, spec);
    ImPlot::EndPlot();
  }
}

}  // namespace

void DrawStrategy(StudioState& state, UiFrame& ui) {
  if (!ImGui::Begin(kStrategyWindow)) return ImGui::End();
  ImGui::PushItemWidth(ImGui::GetFontSize() * 8);
  int64_t world = state.world();
  if (ImGui::InputScalar("world (ranks)", ImGuiDataType_S64, &world, nullptr, nullptr, "%lld", ImGuiInputTextFlags_EnterReturnsTrue) ||
      ImGui::IsItemDeactivatedAfterEdit())
    state.world() = world;
  ImGui::PopItemWidth();
  Form(state, ui);
  ImGui::Separator();

  const auto plan = state.plan();
  if (!state.composition().Problems().empty()) {
    ImGui::TextColored(kDimColor, "the plan is checked once the graph is complete");
  } else if (!plan || state.plan_pending()) {
    ImGui::TextColored(kDimColor, "checking the plan...");
  } else if (plan->valid) {
    const auto& report = plan->report;
    ImGui::TextColored(kOkColor, "plan valid: %zu component(s) on %lld rank(s), %s per rank", report["plan"]["components"].size(),
                       static_cast<long long>(report["plan"].value("world", 0)),
                       Bytes(report["memory_per_rank"].value("total_bytes", 0.0)).c_str());
  } else {
    ImGui::TextColored(kErrorColor, "plan invalid:");
    for (const auto& e : plan->errors)  // every message, also those drawn at their fields
      WrappedColored(e.keys.empty() ? kErrorColor : kDimColor, e.message);
  }
  if (plan && plan->valid && !state.plan_pending()) MemoryChart(plan->report["memory_per_rank"]);
  ImGui::End();
}

}  // namespace loom::studio
