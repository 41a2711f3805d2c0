// RunStore: the SQLite run store. One database file (default
// runs/loom.sqlite) records every run: its resolved config, status, and one
// row per optimizer step, plus events (evaluations, warnings, checkpoints).
// `loom runs`, Loom Studio and scripts read it; a trainer writes it.
//
// Tables (schema version kRunStoreSchemaVersion, in table schema_version):
//   runs   (id, name, config JSON, status running|completed|failed|cancelled,
//           started_at, ended_at, world_size, error, heartbeat_at,
//           lost_after_s)
//   steps  (run_id, step, loss, lr, grad_norm, tokens_per_s, step_time_s,
//           peak_mem_bytes, extra JSON)          primary key (run_id, step)
//   events (id, run_id, step, time, kind, message)
// Times are Unix seconds (REAL, UTC). NaN metrics are stored as NULL and read
// back as NaN.
//
// Lost runs: a live trainer refreshes heartbeat_at (Heartbeat) every
// lost_after_s / 4 seconds. A run whose status is still `running` but whose
// heartbeat is older than its lost_after_s is read back as kLost ("lost": its
// process was killed outright or its machine died), with ended_at = its last
// heartbeat. `lost` is never stored: a resumed run (ReopenRun) is running again.
// Version 1 stores (no heartbeat) are migrated when opened for writing and
// read as before (never lost) when opened read-only.
//
// Durability and concurrency: the database runs in WAL mode with
// synchronous=NORMAL, so each LogStep is one short transaction without an
// fsync, and readers in other processes see committed rows while the run is
// live (they never block the writer). A busy timeout (5 s) absorbs brief
// lock contention between writers. A crash never corrupts the file; a power
// loss may drop the last few steps.
//
// Thread-safety: a RunStore may be used from several threads at once; every
// method takes an internal mutex (one connection, prepared statements reused).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loom::metrics {

inline constexpr int kRunStoreSchemaVersion = 2;

// kLost is derived on reading (see above), never written.
enum class RunStatus { kRunning, kCompleted, kFailed, kCancelled, kLost };

/// "running" | "completed" | "failed" | "cancelled" | "lost".
const char* RunStatusName(RunStatus status);

/// One optimizer step. Units: lr in 1, tokens_per_s in tokens/s (global),
/// step_time_s in seconds, peak_mem_bytes in bytes (see PeakRssBytes).
/// `extra` is a JSON object for anything else (eval loss, per-expert
/// counts, ...); it must be an object or null.
struct StepMetrics {
  int64_t step = 0;
  double loss = 0;
  double lr = 0;
  double grad_norm = 0;
  double tokens_per_s = 0;
  double step_time_s = 0;
  int64_t peak_mem_bytes = 0;
  nlohmann::json extra = nlohmann::json::object();
};

/// A row of `runs` plus a summary of its steps.
struct RunInfo {
  int64_t id = 0;
  std::string name;
  std::string config_json;  // the resolved config as JSON text
  RunStatus status = RunStatus::kRunning;
  double started_at = 0;    // Unix seconds
  double ended_at = 0;      // Unix seconds; 0 while running; the last heartbeat when lost
  int64_t world_size = 1;
  std::string error;        // "" unless failed
  int64_t num_steps = 0;    // rows in `steps`
  int64_t last_step = -1;   // highest step logged; -1 if none
  double last_loss = 0;     // loss at last_step (NaN if none)
  double heartbeat_at = 0;  // Unix seconds of the last heartbeat; 0 if none recorded
  double lost_after_s = 0;  // the bound after which a silent running run is lost; 0: never

  /// ended_at - started_at, or now - started_at while running.
  double DurationSeconds() const;
};

struct RunEvent {
  int64_t step = 0;
  double time = 0;  // Unix seconds
  std::string kind;  // e.g. eval | warning | checkpoint
  std::string message;
  int64_t id = 0;  // increasing in logging order (GetEvents' after_id)
};

class RunStore {
 public:
  enum class Mode {
    kReadWrite,  // create the file (and parent dirs) and the tables if missing
    kReadOnly,   // the file must exist and be a run store
  };

  /// Opens (or creates) the store at `path`.
  /// @throws ConfigError if the file is missing (kReadOnly), cannot be
  ///         created, is not a SQLite database, or has a newer schema version;
  ///         the message names the path and the fix.
  explicit RunStore(const std::string& path, Mode mode = Mode::kReadWrite);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  const std::string& path() const { return path_; }

  /// Inserts a run with status running and started_at = now.
  /// @param[in] config_json the resolved config (e.g. config::ToJson(cfg).dump()).
  /// @param[in] lost_after_s a heartbeat older than this marks it lost (0: never).
  /// @return the new run id (> 0).
  int64_t CreateRun(const std::string& name, const std::string& config_json, int64_t world_size,
                    double lost_after_s = 0);

  /// A resumed run: status running again (ended_at and error cleared), its
  /// config and world size replaced by the resuming run's, heartbeat now.
  /// @throws Error if run_id does not exist.
  void ReopenRun(int64_t run_id, const std::string& config_json, int64_t world_size, double lost_after_s);

  /// heartbeat_at = now (cheap; a trainer calls it from a timer thread).
  void Heartbeat(int64_t run_id);

  /// True if run `run_id` exists and is named `name`.
  bool HasRun(int64_t run_id, const std::string& name);

  /// Records one step (one transaction). Logging a step again for the same
  /// run replaces the earlier row (a resumed run re-logs steps).
  /// @throws Error if run_id does not exist or extra is not an object.
  void LogStep(int64_t run_id, const StepMetrics& metrics);

  /// Records an event at `step` with time = now.
  void LogEvent(int64_t run_id, int64_t step, const std::string& kind, const std::string& message);

  /// Sets status and ended_at = now (kRunning reopens: ended_at cleared).
  void FinishRun(int64_t run_id, RunStatus status, const std::string& error = "");

  /// Every run, newest first.
  std::vector<RunInfo> ListRuns();

  /// A run by id ("12") or by name (the newest run with that name).
  /// @throws ConfigError naming the store and the fix if there is none.
  RunInfo GetRun(const std::string& id_or_name);

  /// The run's steps after `after_step` in step order / events after the
  /// event `after_id` in logging order (the defaults: all). A live reader
  /// passes the last step / event id it has seen to read only what is new.
  std::vector<StepMetrics> GetSteps(int64_t run_id, int64_t after_step = INT64_MIN);
  std::vector<RunEvent> GetEvents(int64_t run_id, int64_t after_id = 0);

 private:
  struct Impl;  // sqlite3 handle and prepared statements
  std::string path_;
  std::mutex mu_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loom::metrics
