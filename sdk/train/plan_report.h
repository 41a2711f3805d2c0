// The plan report: what `loom plan CONFIG --json`, the C ABI and the studio
// show for a config on a world size. One function builds it, with the same
// PlanFromConfig / ValidatePlanFor calls `loom train` makes, so what a form
// shows as valid is what a run accepts.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "sdk/config/train_config.h"

namespace loom::train {

struct PlanReportOptions {
  int64_t world = 1;            // ranks (>= 1)
  std::string memory_budget;    // e.g. "80GiB": also answer the longest row that fits; "" = skip
  double media_fraction = 0.25; // omni models: each encoder's share of a row's tokens
};

// The plan and its per-rank memory estimate (throws ConfigError for an
// invalid config or plan, listing every problem):
//   {"plan": PlanToJson, "memory_per_rank": {"<component>": EstimateToJson, ...,
//    "total_bytes"?}, "media_fraction"? (omni), "memory_budget"? {"bytes", "longest_seq_len"}}
nlohmann::json PlanReport(const config::LoomConfig& cfg, const PlanReportOptions& options);

// The same, never throwing for an invalid plan or budget: {"valid": true, ...PlanReport}
// or {"valid": false, "errors": [{"message", "keys": [dotted config keys it names]}]}
// (one entry per line of the ConfigError, so a form can mark each field).
nlohmann::json CheckPlan(const config::LoomConfig& cfg, const PlanReportOptions& options);

}  // namespace loom::train
