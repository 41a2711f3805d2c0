// The strategy panel: the world size, then per block its mesh (FSDP shard,
// HSDP replicas, Ulysses SP, EP), recompute, gathered-parameter precision and
// CPU offload, each validated live on PlanChecker's worker; the plan's own
// messages are drawn under the field whose key they name. Under the form,
// the per-rank memory estimate of each block as a stacked bar chart.
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

void Combo(Composition& c, const Block& b, const char* leaf, std::initializer_list<const char*> choices, const char* fallback) {
  const std::string current = ValueOf(b, leaf, fallback);
  if (!ImGui::BeginCombo(leaf, current.c_str())) return;
  for (const char* choice : choices)
    if (ImGui::Selectable(choice, current == choice)) c.SetParallel(b.role, leaf, choice);
  ImGui::EndCombo();
}

void BlockForm(StudioState& state, UiFrame& ui, const Block& b) {
  auto& c = state.composition();
  ImGui::PushID(b.role.c_str());
  ImGui::SeparatorText((b.role + " (" + b.model_type + ")").c_str());
  for (const auto& m : kMesh) {
    int64_t v = std::stoll(ValueOf(b, m.leaf, std::to_string(m.fallback)));
    if (ImGui::InputScalar(m.leaf, ImGuiDataType_S64, &v, nullptr, nullptr, "%lld", ImGuiInputTextFlags_EnterReturnsTrue) ||
        ImGui::IsItemDeactivatedAfterEdit()) {
      if (v == m.fallback) c.ClearParallel(b.role, m.leaf); else c.SetParallel(b.role, m.leaf, std::to_string(v));
    }
    if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", m.help);
    InlineErrors(state, ui, c.ParallelKey(b.role, m.leaf));
  }
  Combo(c, b, "recompute", {"none", "selective", "full"}, "none");
  InlineErrors(state, ui, c.ParallelKey(b.role, "recompute"));
  Combo(c, b, "param_dtype", {"fp32", "bf16"}, "fp32");
  InlineErrors(state, ui, c.ParallelKey(b.role, "param_dtype"));
  bool offload = ValueOf(b, "cpu_offload", "false") == "true";
  if (ImGui::Checkbox("cpu_offload", &offload)) c.SetParallel(b.role, "cpu_offload", offload ? "true" : "false");
  InlineErrors(state, ui, c.ParallelKey(b.role, "cpu_offload"));
  ImGui::PopID();
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
  const auto blocks = state.composition().blocks();  // a copy: the forms edit the composition
  for (const auto& [role, b] : blocks) BlockForm(state, ui, b);
  ImGui::PopItemWidth();
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
