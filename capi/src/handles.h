// What each opaque handle of loom.h holds: the C++ object it wraps, plus
// the state the shim needs (callbacks, a launch's thread). Internal to capi/.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "loom/loom.h"
#include "sdk/config/train_config.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/trainer.h"

struct loom_config {
  loom::config::LoomConfig cfg;
};

struct loom_trainer {
  std::unique_ptr<loom::train::Trainer> trainer;
  loom_trainer_options options{};
  std::atomic<bool> abort_requested{false};  // a callback returned non-zero
  std::string failure;                       // a step failed: the trainer is unusable
};

struct loom_store {
  std::unique_ptr<loom::metrics::RunStore> store;
};

struct loom_launch {
  std::thread thread;  // runs runtime::Launch; the ranks are its children
  std::atomic<bool> stop{false};
  std::atomic<int> restarts{0};
  std::mutex mu;
  std::condition_variable ended_cv;
  bool ended = false;  // guarded by mu
  int exit_code = 0;   // guarded by mu, once ended
  int log_fd = -1;     // the log file, or -1
};
