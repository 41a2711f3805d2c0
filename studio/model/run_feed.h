// RunFeed: follows one run of a run store on a worker thread, through the C
// ABI (loom_store_read_steps / _read_events after the last row seen), so the
// UI thread never touches SQLite: each frame takes one lock and copies what
// it draws (Snapshot), as STYLE rule 26 asks.
//
// The store may not exist yet (a run just launched): the worker retries
// opening it every period. Rows are appended in order and never torn: a step
// is either in the snapshot whole or not yet. A resumed run re-logs the
// steps after its checkpoint; those replaced rows are read again only by a
// new feed (the studio restarts the feed when it sees a `resumed` event).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "studio/model/c_api.h"

namespace loom::studio {

struct FeedSnapshot {
  nlohmann::json run;                 // loom_store_get_run's object (status, ...); null until found
  std::vector<nlohmann::json> steps;  // loom_store_read_steps rows, in step order
  std::vector<nlohmann::json> events; // loom_store_read_events rows, in logging order
  std::string error;                  // the last poll's failure ("" when it succeeded)
  int64_t polls = 0;                  // polls done so far
};

class RunFeed {
 public:
  // Follows run `run` (id or name) of the store at `store_path`, polling every `period`.
  RunFeed(std::string store_path, std::string run, std::chrono::milliseconds period);
  ~RunFeed();  // stops and joins the worker
  RunFeed(const RunFeed&) = delete;
  RunFeed& operator=(const RunFeed&) = delete;

  // A copy of what was read so far. Thread-safe; never waits on SQLite.
  FeedSnapshot Snapshot() const;
  // True once the run has ended (any status but running) and a poll after
  // that read everything.
  bool Ended() const;

 private:
  void Run();
  bool PollOnce();  // false when the store or run is not there yet

  const std::string store_path_, run_;
  const std::chrono::milliseconds period_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;      // guarded by mu_
  FeedSnapshot snapshot_;  // guarded by mu_
  std::atomic<bool> ended_{false};
  StorePtr store_;  // the worker's only: open once the store exists
  std::thread worker_;
};

}  // namespace loom::studio
