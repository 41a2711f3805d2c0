// Chart series and CSV from a run's step rows (loom_store_read_steps' JSON),
// computed each frame from the feed's snapshot (STYLE rule 26: derive, don't
// cache). A metric is a top-level step column ("loss", "lr", "grad_norm",
// "tokens_per_s", "step_time_s", "peak_mem_bytes") or a numeric leaf of
// "extra", named by its dotted path ("loss_by_modality.image").
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom::studio {

struct Series {
  std::string metric;
  std::vector<double> x;  // steps
  std::vector<double> y;  // the metric's values (steps lacking it are left out)
};

// The metrics these rows carry, fixed columns first, then extra leaves sorted.
std::vector<std::string> MetricsOf(const std::vector<nlohmann::json>& steps);
// The per-modality losses among them ("loss_by_modality.*").
std::vector<std::string> ModalityLosses(const std::vector<nlohmann::json>& steps);
Series SeriesOf(const std::vector<nlohmann::json>& steps, const std::string& metric);

// The rows as CSV, byte for byte what `loom runs show RUN --csv` prints for
// the same rows (same columns, extra keys sorted, shortest round-trip numbers).
std::string StepsCsv(const std::vector<nlohmann::json>& steps);

}  // namespace loom::studio
