// Human-readable formatting of run metrics, shared by the progress line and
// `loom runs`, and the CSV export of steps. Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/base/format.h"
#include "sdk/metrics/run_store.h"

namespace loom::metrics {

/// FormatShortest and FormatBytes are defined once, in ops/base/format.h.
using loom::FormatBytes;
using loom::FormatShortest;

/// Seconds as "45s", "1m12s", "2h03m", "3d04h"; "-" if negative or NaN.
std::string FormatDuration(double seconds);

/// A rate with a k/M/G suffix and one decimal: 950, 15.3k, 1.2M.
std::string FormatRate(double per_second);

/// A learning rate in short scientific form: 2.9e-4, 3e-4, 1e-3, 0.
std::string FormatLr(double lr);


/// Unix seconds as local time "2025-01-31 13:04:05"; "-" if <= 0.
std::string FormatLocalTime(double unix_seconds);

/// Steps as CSV (RFC 4180): header `step,loss,lr,grad_norm,tokens_per_s,
/// step_time_s,peak_mem_bytes`, then one column per top-level key of
/// `extra` (sorted union over all steps; empty where a step lacks it;
/// strings verbatim, other non-scalars as JSON). Numbers use
/// FormatShortest; NaN is "nan". Fields are quoted only when needed.
std::string StepsToCsv(const std::vector<StepMetrics>& steps);

/// The run store's rows as JSON (the C ABI's and the studio's form). NaN
/// metrics become null. A run: {"id", "name", "status", "started_at",
/// "ended_at", "duration_s", "world_size", "error", "num_steps",
/// "last_step", "last_loss", "heartbeat_at", "lost_after_s"} (+ "config",
/// parsed, when `with_config`). A step: {"step", "loss", "lr", "grad_norm",
/// "tokens_per_s", "step_time_s", "peak_mem_bytes", "extra"}. An event:
/// {"id", "step", "time", "kind", "message"}.
nlohmann::json RunToJson(const RunInfo& run, bool with_config = false);
nlohmann::json StepsToJson(const std::vector<StepMetrics>& steps);
nlohmann::json EventsToJson(const std::vector<RunEvent>& events);

}  // namespace loom::metrics
