// The observers `loom train` subscribes to a Trainer: the SQLite run store
// (rank 0), the live progress line and the log stream.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <ostream>
#include <thread>

#include "sdk/metrics/progress.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/trainer.h"

namespace loom::train {

// Writes every step, event and the final status of run `run_id`, and its
// heartbeat every `heartbeat_s` from a timer thread until the run finishes
// (a run whose process is killed outright then reads as `lost`).
class RunStoreObserver : public TrainerObserver {
 public:
  RunStoreObserver(std::shared_ptr<metrics::RunStore> store, int64_t run_id, double heartbeat_s);
  ~RunStoreObserver() override;
  void OnStep(const metrics::StepMetrics& m) override { store_->LogStep(run_id_, m); }
  void OnEvent(int64_t step, const std::string& kind, const std::string& message) override {
    store_->LogEvent(run_id_, step, kind, message);
  }
  void OnFinish(metrics::RunStatus status, const std::string& error) override;

 private:
  void StopHeartbeat();

  std::shared_ptr<metrics::RunStore> store_;
  int64_t run_id_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread heartbeat_;
};

// The progress line every train.log_every steps, and log lines on `out`.
class ConsoleObserver : public TrainerObserver {
 public:
  ConsoleObserver(std::ostream& out, int64_t total_steps, int64_t log_every);
  void OnStep(const metrics::StepMetrics& m) override;
  void OnLog(const std::string& line) override;
  void OnFinish(metrics::RunStatus status, const std::string& error) override;

 private:
  std::ostream& out_;
  int64_t total_, log_every_;
  std::unique_ptr<metrics::ProgressLine> progress_;
};

}  // namespace loom::train
