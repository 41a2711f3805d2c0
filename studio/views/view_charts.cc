// The charts: loss, loss by modality (one line per modality group the run
// logs), tokens/s, step time, peak memory, grad norm and learning rate, for the
// launched run (live, from its feed) and every run ticked in the Runs panel.
// "follow" keeps the axes fitted to the data as it streams; untick it to zoom
// (wheel) and pan (drag). Export writes the runs' steps as CSV (the columns
// of `loom runs show --csv`) and the panel as PNG, both on FileWriter's worker.
#include <string>
#include <vector>

#include "imgui.h"
#include "implot.h"
#include "studio/model/series.h"
#include "studio/views/views.h"
#include "studio/views/widgets.h"

namespace loom::studio {
namespace {

struct Shown {
  std::string label;
  FeedSnapshot snapshot;
};

struct Chart {
  const char* title;
  const char* metric;  // a metric, or "loss_by_modality" for every modality's loss
  bool legend;         // runs keep their colour on every chart: the loss charts carry the legend
};
const Chart kCharts[] = {{"loss", "loss", true},
                         {"loss by modality", "loss_by_modality", true},
                         {"tokens/s", "tokens_per_s", false},
                         {"step time (s)", "step_time_s", false},
                         {"peak memory (bytes)", "peak_mem_bytes", false},
                         {"grad norm", "grad_norm", false},
                         {"learning rate", "lr", false}};
constexpr int kColumns = 4;

std::vector<Shown> RunsShown(StudioState& state) {
  std::vector<Shown> shown;
  if (RunFeed* live = state.LaunchedFeed()) shown.push_back({state.run().name + " (launched)", live->Snapshot()});
  for (int64_t id : state.view().compared_runs) {
    FeedSnapshot s = state.Feed(id).Snapshot();
    shown.push_back({s.run.is_object() ? s.run.value("name", "") + " #" + std::to_string(id) : "#" + std::to_string(id), std::move(s)});
  }
  return shown;
}

void Plot(const Chart& chart, const std::vector<Shown>& shown, bool follow, ImVec2 size, UiFrame& ui) {
  if (!ImPlot::BeginPlot(chart.title, size, chart.legend ? ImPlotFlags_None : ImPlotFlags_NoLegend)) return;
  const ImPlotAxisFlags fit = follow ? ImPlotAxisFlags_AutoFit : ImPlotAxisFlags_None;
  ImPlot::SetupAxes("step", nullptr, fit, fit);
  ImPlot::SetupLegend(ImPlotLocation_NorthEast);
  const bool by_modality = std::string(chart.metric) == "loss_by_modality";
  size_t points = 0;
  for (const auto& run : shown) {
    const std::vector<std::string> metrics = by_modality ? ModalityLosses(run.snapshot.steps) : std::vector<std::string>{chart.metric};
    for (const auto& metric : metrics) {
      const Series s = SeriesOf(run.snapshot.steps, metric);
      if (s.x.empty()) continue;
      const std::string label = by_modality ? run.label + " " + metric.substr(metric.find('.') + 1) : run.label;
      ImPlot::PlotLine(label.c_str(), s.x.data(), s.y.data(), static_cast<int>(s.x.size()));
      points += s.x.size();
    }
  }
  ImPlot::EndPlot();
  ui.drawn_points[chart.metric] = points;
}

}  // namespace

void DrawCharts(StudioState& state, UiFrame& ui) {
  if (!ImGui::Begin(kChartsWindow)) return ImGui::End();
  static bool follow = true;
  ImGui::Checkbox("follow", &follow);
  const std::vector<Shown> shown = RunsShown(state);
  ImGui::SameLine();
  ImGui::BeginDisabled(shown.empty());
  if (ImGui::Button("Export CSV")) {
    for (const auto& run : shown) {
      const std::string name = run.snapshot.run.is_object() ? run.snapshot.run.value("name", "run") : "run";
      state.writer().WriteText(state.view().export_dir + "/" + name + ".csv", StepsCsv(run.snapshot.steps));
    }
    ui.status = "exporting " + std::to_string(shown.size()) + " run(s) to " + state.view().export_dir;
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  if (ImGui::Button("Export PNG")) {
    ui.captures.push_back({kChartsWindow, state.view().export_dir + "/charts.png"});
    ui.status = "exporting the charts to " + state.view().export_dir + "/charts.png";
  }
  const auto done = state.writer().Done();
  if (!done.empty()) {
    ImGui::SameLine();
    ImGui::TextColored(kDimColor, "%s", done.back().c_str());
  }
  if (shown.empty()) {
    ImGui::TextColored(kDimColor, "launch a run, or tick runs in the Runs panel");
    return ImGui::End();
  }
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 size((avail.x - ImGui::GetStyle().ItemSpacing.x * (kColumns - 1)) / kColumns,
                    (avail.y - ImGui::GetStyle().ItemSpacing.y) / 2);
  for (size_t i = 0; i < std::size(kCharts); ++i) {
    if (i % kColumns) ImGui::SameLine();
    Plot(kCharts[i], shown, follow, size, ui);
  }
  ImGui::End();
}

}  // namespace loom::studio
