// `loom runs list [--db PATH]` and `loom runs show RUN [--db PATH] [--csv]`:
// read the SQLite run store (sdk/metrics/run_store.h) without writing it.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "sdk/cli/commands.h"
#include "sdk/metrics/format.h"
#include "sdk/metrics/run_store.h"

namespace loom::cli {
namespace {

using Row = std::vector<std::string>;

// Columns padded to their widest cell, two spaces apart.
void PrintTable(std::ostream& out, const Row& header, const std::vector<Row>& rows,
                const std::string& indent = "") {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto print = [&](const Row& row) {
    std::string line = indent;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out << line << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

std::string Loss(double loss) {
  if (loss != loss) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", loss);
  return buf;
}

void ListRuns(const std::string& db) {
  metrics::RunStore store(db, metrics::RunStore::Mode::kReadOnly);
  const auto runs = store.ListRuns();
  if (runs.empty()) {
    std::cout << "no runs in " << db << "\n";
    return;
  }
  std::vector<Row> rows;
  for (const auto& r : runs) {
    rows.push_back({std::to_string(r.id), r.name, metrics::RunStatusName(r.status),
                    std::to_string(r.num_steps), Loss(r.last_loss),
                    metrics::FormatLocalTime(r.started_at),
                    metrics::FormatDuration(r.DurationSeconds())});
  }
  PrintTable(std::cout, {"id", "name", "status", "steps", "last loss", "started", "duration"},
             rows);
}

void ShowRun(const std::string& db, const std::string& run, bool csv) {
  metrics::RunStore store(db, metrics::RunStore::Mode::kReadOnly);
  const metrics::RunInfo info = store.GetRun(run);
  const auto steps = store.GetSteps(info.id);
  if (csv) {
    std::cout << metrics::StepsToCsv(steps);
    return;
  }
  std::cout << "run " << info.id << " '" << info.name << "' (" << metrics::RunStatusName(info.status)
            << ")\n"
            << "  started   " << metrics::FormatLocalTime(info.started_at) << "\n"
            << "  ended     " << metrics::FormatLocalTime(info.ended_at) << "\n"
            << "  duration  " << metrics::FormatDuration(info.DurationSeconds()) << "\n"
            << "  world     " << info.world_size << " rank(s)\n";
  if (!info.error.empty()) std::cout << "  error     " << info.error << "\n";

  std::cout << "\nsteps (" << steps.size() << "):\n";
  bool any_extra = false;
  for (const auto& m : steps) any_extra |= m.extra.is_object() && !m.extra.empty();
  std::vector<Row> rows;
  for (const auto& m : steps) {
    Row row = {std::to_string(m.step), Loss(m.loss), metrics::FormatLr(m.lr),
               metrics::FormatShortest(m.grad_norm), metrics::FormatRate(m.tokens_per_s),
               metrics::FormatShortest(m.step_time_s), metrics::FormatBytes(m.peak_mem_bytes)};
    if (any_extra) row.push_back(m.extra.empty() ? "" : m.extra.dump());
    rows.push_back(std::move(row));
  }
  Row header = {"step", "loss", "lr", "grad_norm", "tok/s", "step_time_s", "peak_mem"};
  if (any_extra) header.push_back("extra");
  if (!steps.empty()) PrintTable(std::cout, header, rows, "  ");

  const auto events = store.GetEvents(info.id);
  std::cout << "\nevents (" << events.size() << "):\n";
  rows.clear();
  for (const auto& e : events) {
    rows.push_back({std::to_string(e.step), metrics::FormatLocalTime(e.time), e.kind, e.message});
  }
  if (!events.empty()) PrintTable(std::cout, {"step", "time", "kind", "message"}, rows, "  ");

  const auto config = nlohmann::json::parse(info.config_json, nullptr, false);
  std::cout << "\nconfig:\n" << (config.is_discarded() ? info.config_json : config.dump(2)) << "\n";
}

}  // namespace

void AddRunsCommand(CLI::App& app, int* exit_code) {
  auto* runs = app.add_subcommand("runs", "List and inspect runs in the SQLite run store");
  runs->require_subcommand(1);
  auto db = std::make_shared<std::string>("runs/loom.sqlite");
  auto run = std::make_shared<std::string>();
  auto csv = std::make_shared<bool>(false);

  auto* list = runs->add_subcommand("list", "Table of runs: id, name, status, steps, last loss, "
                                            "started, duration");
  list->add_option("--db", *db, "Run store (SQLite file)")->capture_default_str();
  list->callback([=] {
    ListRuns(*db);  // ConfigError (missing store) propagates to main: exit 2
    *exit_code = 0;
  });

  auto* show = runs->add_subcommand("show", "One run: its info, per-step table, events, config");
  show->add_option("RUN", *run, "Run id or name (the newest run with that name)")->required();
  show->add_option("--db", *db, "Run store (SQLite file)")->capture_default_str();
  show->add_flag("--csv", *csv, "Print the steps as CSV to stdout (nothing else)");
  show->callback([=] {
    ShowRun(*db, *run, *csv);
    *exit_code = 0;
  });
}

LOOM_REGISTER_COMMAND(60, AddRunsCommand);

}  // namespace loom::cli
