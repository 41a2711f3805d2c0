// PlanChecker: validates the plan editor's config on a worker thread
// (loom_config_parse + loom_plan_check), so typing in the strategy panel
// never stalls a frame. Requests coalesce: while one check runs, only the
// newest pending request is kept, and Latest() is the newest result.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom::studio {

struct PlanRequest {
  std::string yaml;                    // the composed config
  std::vector<std::string> overrides;  // dotted overrides ("--parallel.sp=2")
  int64_t world = 1;
  // A composed config.json, not yet on disk: the worker writes it to its own
  // scratch file and checks with --model.config pointing there (null: none).
  nlohmann::json model_config = nullptr;
};

struct FieldError {
  std::string message;
  std::vector<std::string> keys;  // the config keys the message names: where a form marks it
};

struct PlanResult {
  uint64_t request = 0;     // which Request() this answers (1, 2, ...)
  bool valid = false;
  nlohmann::json report;    // loom_plan_check's JSON (plan and memory_per_rank when valid)
  std::vector<FieldError> errors;  // config or plan problems, each with its keys
};

class PlanChecker {
 public:
  PlanChecker();
  ~PlanChecker();
  PlanChecker(const PlanChecker&) = delete;
  PlanChecker& operator=(const PlanChecker&) = delete;

  // Queues a check (replacing one not yet started) and returns its number.
  uint64_t Request(PlanRequest request);
  // The newest finished result, if any. Never waits on a check.
  std::optional<PlanResult> Latest() const;
  // The request number of Latest() (0: none yet): a cheap check for "new result?".
  uint64_t LatestRequest() const;
  // Blocks until the result for `request` (or a newer one) exists; for tests and the headless mode.
  PlanResult WaitFor(uint64_t request) const;
  // Checks run so far (coalesced requests are never run).
  int64_t checks_run() const;

 private:
  void Run();
  PlanResult Evaluate(const PlanRequest& request) const;  // a failure is a result too

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool stop_ = false;
  uint64_t next_ = 0;
  std::optional<std::pair<uint64_t, PlanRequest>> pending_;
  std::optional<PlanResult> latest_;
  int64_t checks_run_ = 0;
  const std::string scratch_;  // the worker's config.json for requests with model_config
  std::thread worker_;
};

}  // namespace loom::studio
