// Liveness signal from a rank to `loom launch`.
//
// When LOOM_HEARTBEAT_DIR is set (the launcher sets it), a background thread
// touches $LOOM_HEARTBEAT_DIR/rank<RANK> every second. The launcher declares a
// rank unresponsive when its file goes stale (e.g. the process is stopped or
// wedged in the kernel); a rank blocked on a dead peer instead fails its
// collective at the communicator timeout.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>

namespace loom::runtime {

class Heartbeat {
 public:
  // Starts a heartbeat if the environment asks for one; nullptr otherwise.
  static std::unique_ptr<Heartbeat> StartFromEnv();

  explicit Heartbeat(std::string path);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  void Beat();

  std::string path_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The file a rank's heartbeat goes to.
std::string HeartbeatPath(const std::string& dir, int rank);

}  // namespace loom::runtime
