// `loom launch`: starts N local ranks of one command with a torchrun-style
// environment, prefixes every output line with its rank, and supervises them.
//
// Contract:
//  - each rank gets RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
//    MASTER_ADDR, MASTER_PORT (a free port unless given), LOOM_HEARTBEAT_DIR,
//    and OMP_NUM_THREADS = cores / N unless already set;
//  - stdout lines go to stdout as "[rank K] line", stderr lines to stderr;
//  - if a rank exits non-zero, dies by a signal, or stops heartbeating for
//    `hang_timeout`, every other rank gets SIGTERM, then SIGKILL after
//    `kill_grace`, and Launch returns non-zero;
//  - SIGINT/SIGTERM to the launcher stop all ranks the same way (exit 130/143);
//  - with max_restarts N > 0, a failed attempt (a rank failed or hung, not a
//    signal to the launcher) starts every rank again, up to N times, with
//    LOOM_RESTART_COUNT = 1..N and LOOM_MAX_RESTARTS = N in the environment
//    (as torchrun's restarts): `loom train` then resumes its last committed
//    checkpoint (train.resume: auto) and the run store records a `restart`;
//  - each rank runs in its own process group, killed whole at the end, and
//    dies with the launcher (PR_SET_PDEATHSIG), so no process is left behind.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

namespace loom::runtime {

struct LaunchOptions {
  int nproc = 1;
  std::vector<std::string> command;  // argv of every rank
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: pick a free port
  std::chrono::milliseconds hang_timeout = std::chrono::seconds(20);
  std::chrono::milliseconds kill_grace = std::chrono::seconds(3);
  int max_restarts = 0;  // restarts of every rank after a failed attempt
  // Library use (the C ABI runs Launch on a thread of its own):
  bool handle_signals = true;                 // false: leave the host's SIGINT/SIGTERM handlers alone
  const std::atomic<bool>* stop = nullptr;    // set: stop every rank as a signal would (no restart follows)
  std::atomic<int>* restarts = nullptr;       // written: restarts begun so far
  int stdout_fd = 1, stderr_fd = 2;           // where the ranks' prefixed lines and the launcher's go
};

// Runs the ranks to completion; returns the launcher's exit code (0 when every
// rank exited 0). Throws loom::ConfigError on invalid options.
int Launch(const LaunchOptions& options);

// A TCP port on 127.0.0.1 that was free a moment ago.
int FindFreePort();

}  // namespace loom::runtime
