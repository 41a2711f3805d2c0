// Launcher: starts, stops and follows local multi-rank runs on a worker
// thread (loom_launch_* through the C ABI), so the UI thread never waits on
// a fork, a file write or a join. A launch writes the composed config.json
// and train.yaml into its run folder first, then runs `loom train` on
// `nproc` ranks, every rank's output appended to that folder's launch.log.
//
// The UI calls Start / Stop / Resume (each queues a command and returns) and
// reads State() once a frame (one lock, a copy).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

struct loom_launch;  // loom/loom.h

namespace loom::studio {

struct LaunchSpec {
  std::string folder;            // written first: config.json, train.yaml, launch.log
  std::string model_config_json; // the composition's config.json text ("" for a YAML with model.* keys)
  std::string train_yaml;        // the YAML `loom train` runs (its model.config names folder/config.json)
  std::vector<std::string> overrides;  // extra "--key=value" tokens (a resume adds --train.resume=latest)
  int32_t nproc = 1;
};

struct LaunchState {
  enum class Phase { kIdle, kStarting, kRunning, kStopping, kEnded, kFailed };
  Phase phase = Phase::kIdle;
  int32_t exit_code = 0;   // once ended: 0, a rank's code, or 128 + signal
  int32_t restarts = 0;
  int64_t launches = 0;    // launches started so far (a resume is one)
  std::string error;       // why the last command failed (kFailed)
  LaunchSpec spec;         // the last launch's
};

const char* PhaseName(LaunchState::Phase phase);

class Launcher {
 public:
  Launcher();
  ~Launcher();  // stops a running job and joins (ranks die with the studio)
  Launcher(const Launcher&) = delete;
  Launcher& operator=(const Launcher&) = delete;

  // Each queues a command for the worker and returns at once.
  void Start(LaunchSpec spec);
  void Stop();
  // The last launch again, from its newest checkpoint (`train.resume=latest`).
  void Resume();

  LaunchState State() const;  // a copy; never waits on the worker's work

 private:
  enum class Command { kStart, kStop, kResume };
  void Run();
  void DoStart(LaunchSpec spec);  // worker only
  void PollJob();                 // worker only

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool quit_ = false;
  std::deque<std::pair<Command, LaunchSpec>> commands_;  // guarded by mu_
  LaunchState state_;                                    // guarded by mu_
  ::loom_launch* job_ = nullptr;                    // the worker's only
  std::thread worker_;
};

}  // namespace loom::studio
