// RunCatalog: the run store's list of runs (loom_store_list_runs), re-read on
// a worker every period, so the runs panel browses past and live runs
// without a frame touching SQLite. The store path can change at any time
// (the runs panel's field); a store that does not exist yet is an empty list.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom::studio {

struct CatalogSnapshot {
  std::string store_path;
  std::vector<nlohmann::json> runs;  // loom_store_list_runs' objects, oldest first
  std::string error;                 // "" when the last read succeeded (or the store is absent)
  int64_t reads = 0;
};

class RunCatalog {
 public:
  explicit RunCatalog(std::chrono::milliseconds period);
  ~RunCatalog();
  RunCatalog(const RunCatalog&) = delete;
  RunCatalog& operator=(const RunCatalog&) = delete;

  void SetStore(const std::string& path);  // re-read at once
  CatalogSnapshot Snapshot() const;

 private:
  void Run();
  void ReadOnce(const std::string& path);

  const std::chrono::milliseconds period_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false, changed_ = false;
  CatalogSnapshot snapshot_;
  std::thread worker_;
};

}  // namespace loom::studio
