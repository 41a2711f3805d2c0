// The runs panel: the next launch's settings (data, schedule, store), the
// Launch / Stop / Resume buttons (Launcher's worker does the work), the
// launched run's status from its feed, and the store's runs, any of which
// can be ticked to compare on the charts.
#include <cstdio>
#include <string>

#include "imgui.h"
#include "studio/views/views.h"
#include "studio/views/widgets.h"

namespace loom::studio {
namespace {

void Settings(StudioState& state) {
  auto& r = state.run();
  ImGui::PushItemWidth(ImGui::GetFontSize() * 16);
  InputString("run.name", r.name);
  InputString("data.train", r.data_train);
  InputString("run.db", r.store);
  InputString("run.dir", r.runs_dir);
  ImGui::PopItemWidth();
  ImGui::PushItemWidth(ImGui::GetFontSize() * 7);
  ImGui::InputInt("train.steps", &r.steps);
  ImGui::SameLine();
  ImGui::InputDouble("train.lr", &r.lr, 0, 0, "%.2g");
  ImGui::InputInt("data.seq_len", &r.seq_len);
  ImGui::SameLine();
  ImGui::InputInt("data.micro_batch_size", &r.micro_batch_size);
  ImGui::InputInt("train.checkpoint_every", &r.checkpoint_every);
  ImGui::SameLine();
  if (ImGui::BeginCombo("train.dtype", r.dtype.c_str())) {
    for (const char* d : {"fp32", "bf16"})
      if (ImGui::Selectable(d, r.dtype == d)) r.dtype = d;
    ImGui::EndCombo();
  }
  ImGui::PopItemWidth();
}

void Controls(StudioState& state, UiFrame& ui) {
  const LaunchState st = state.launcher().State();
  const bool busy = st.phase == LaunchState::Phase::kStarting || st.phase == LaunchState::Phase::kRunning ||
                    st.phase == LaunchState::Phase::kStopping;
  ImGui::BeginDisabled(busy);
  if (ImGui::Button("Launch")) {
    const std::string why = state.Launch();
    ui.status = why.empty() ? "launching " + state.run().name + " on " + std::to_string(state.world()) + " rank(s)" : why;
  }
  ImGui::SameLine();
  ImGui::BeginDisabled(st.launches == 0);
  if (ImGui::Button("Resume")) {
    state.launcher().Resume();
    ui.status = "resuming " + st.spec.folder + " from its newest checkpoint";
  }
  ImGui::EndDisabled();
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::BeginDisabled(st.phase != LaunchState::Phase::kRunning);
  if (ImGui::Button("Stop")) {
    state.launcher().Stop();
    ui.status = "stopping (SIGTERM: the run saves a checkpoint and records 'cancelled')";
  }
  ImGui::EndDisabled();
  ImGui::SameLine();
  ImGui::Text("launcher: %s", PhaseName(st.phase));
  if (st.phase == LaunchState::Phase::kEnded) {
    ImGui::SameLine();
    ImGui::TextColored(st.exit_code == 0 ? kOkColor : kErrorColor, "exit %d", st.exit_code);
  }
  if (!st.error.empty()) WrappedColored(kErrorColor, st.error);
  if (RunFeed* feed = state.LaunchedFeed()) {
    const FeedSnapshot s = feed->Snapshot();
    if (s.run.is_object()) {
      ImGui::Text("run %lld '%s': %s, %zu step(s) logged, %zu event(s)", static_cast<long long>(s.run.value("id", 0)),
                  s.run.value("name", "").c_str(), s.run.value("status", "").c_str(), s.steps.size(), s.events.size());
      if (!s.events.empty()) {
        const auto& e = s.events.back();
        ImGui::TextColored(kDimColor, "last event: %s at step %lld: %s", e.value("kind", "").c_str(),
                           static_cast<long long>(e.value("step", 0)), e.value("message", "").c_str());
      }
    } else {
      ImGui::TextColored(kDimColor, "waiting for the run to appear in %s", state.run().store.c_str());
    }
    if (!st.spec.folder.empty()) ImGui::TextColored(kDimColor, "logs: %s/launch.log", st.spec.folder.c_str());
  }
}

void PastRuns(StudioState& state) {
  const CatalogSnapshot catalog = state.catalog().Snapshot();
  if (!catalog.error.empty()) WrappedColored(kErrorColor, catalog.error);
  if (catalog.runs.empty()) {
    ImGui::TextColored(kDimColor, "no runs in %s yet", catalog.store_path.c_str());
    return;
  }
  auto& compared = state.view().compared_runs;
  const ImGuiTableFlags flags = ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersInnerV | ImGuiTableFlags_ScrollY;
  if (!ImGui::BeginTable("runs", 6, flags, ImVec2(0, 0))) return;
  for (const char* h : {"chart", "id", "name", "status", "steps", "last loss"}) ImGui::TableSetupColumn(h);
  ImGui::TableSetupScrollFreeze(0, 1);
  ImGui::TableHeadersRow();
  for (auto it = catalog.runs.rbegin(); it != catalog.runs.rend(); ++it) {
    const auto& r = *it;
    const int64_t id = r.value("id", int64_t{0});
    ImGui::TableNextRow();
    ImGui::TableNextColumn();
    bool on = compared.count(id) > 0;
    ImGui::PushID(static_cast<int>(id));
    if (ImGui::Checkbox("##compare", &on)) on ? (void)compared.insert(id) : (void)compared.erase(id);
    ImGui::PopID();
    ImGui::TableNextColumn();
    ImGui::Text("%lld", static_cast<long long>(id));
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.value("name", "").c_str());
    ImGui::TableNextColumn();
    ImGui::TextUnformatted(r.value("status", "").c_str());
    ImGui::TableNextColumn();
    ImGui::Text("%lld", static_cast<long long>(r.value("num_steps", 0)));
    ImGui::TableNextColumn();
    if (r["last_loss"].is_number()) ImGui::Text("%.4f", r["last_loss"].get<double>());
  }
  ImGui::EndTable();
}

}  // namespace

void DrawRuns(StudioState& state, UiFrame& ui) {
  if (!ImGui::Begin(kRunsWindow)) return ImGui::End();
  Settings(state);
  ImGui::Separator();
  Controls(state, ui);
  if (!ui.status.empty()) ImGui::TextWrapped("%s", ui.status.c_str());
  ImGui::SeparatorText("runs in the store (tick to compare on the charts)");
  PastRuns(state);
  ImGui::End();
}

}  // namespace loom::studio
