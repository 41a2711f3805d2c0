#include "sdk/runtime/launcher.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "ops/base/error.h"
#include "sdk/runtime/heartbeat.h"

namespace loom::runtime {
namespace {

using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_signal = 0;
void OnSignal(int sig) { g_signal = sig; }

// One output stream of one rank: a pipe and the unfinished line read so far.
struct Stream {
  int fd = -1;
  int out_fd = 1;  // 1 or 2 on the launcher's side
  std::string pending;
};

struct Rank {
  int index = 0;
  pid_t pid = -1;
  bool running = false;
  int exit_code = 0;
  Stream streams[2];
};

void WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    const ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

void EmitLines(Stream& s, const std::string& prefix, bool flush_partial) {
  size_t start = 0, nl;
  std::string out;
  while ((nl = s.pending.find('\n', start)) != std::string::npos) {
    out += prefix + s.pending.substr(start, nl - start + 1);
    start = nl + 1;
  }
  s.pending.erase(0, start);
  if (flush_partial && !s.pending.empty()) {
    out += prefix + s.pending + "\n";
    s.pending.clear();
  }
  if (!out.empty()) WriteAll(s.out_fd, out);
}

// Reads what is available; closes the stream at EOF.
void Drain(Stream& s, const std::string& prefix) {
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(s.fd, buf, sizeof(buf));
    if (n > 0) {
      s.pending.append(buf, static_cast<size_t>(n));
      EmitLines(s, prefix, false);
      continue;
    }
    if (n < 0 && (errno == EINTR)) continue;
    if (n == 0 || (n < 0 && errno != EAGAIN)) {
      EmitLines(s, prefix, true);
      ::close(s.fd);
      s.fd = -1;
    }
    return;
  }
}

// The environment of rank `rank`: this process's, with the torchrun-style
// variables set. Built before fork, so the child only calls
// async-signal-safe functions (the launcher may be a library in a
// multi-threaded host, e.g. Python).
std::vector<std::string> RankEnvironment(const LaunchOptions& o, int rank, int port, const std::string& hb_dir,
                                         int restart) {
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::pair<std::string, std::string>> set = {
      {"RANK", std::to_string(rank)},
      {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(o.nproc)},
      {"LOCAL_WORLD_SIZE", std::to_string(o.nproc)},
      {"MASTER_ADDR", o.master_addr},
      {"MASTER_PORT", std::to_string(port)},
      {"LOOM_HEARTBEAT_DIR", hb_dir},
      {"LOOM_RESTART_COUNT", std::to_string(restart)},
      {"LOOM_MAX_RESTARTS", std::to_string(o.max_restarts)}};
  std::vector<std::string> env;
  bool has_omp = false;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& kv : set) replaced |= kv.first == name;
    has_omp |= name == "OMP_NUM_THREADS";
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [k, v] : set) env.push_back(k + "=" + v);
  if (!has_omp) env.push_back("OMP_NUM_THREADS=" + std::to_string(std::max(1u, cores / static_cast<unsigned>(o.nproc))));
  return env;
}

pid_t SpawnRank(const LaunchOptions& o, int rank, int port, const std::string& hb_dir, int restart,
                Rank& r) {
  int pipes[2][2];
  for (auto& p : pipes) {
    if (::pipe2(p, O_CLOEXEC) != 0) throw Error(std::string("pipe: ") + std::strerror(errno));
  }
  const std::vector<std::string> env = RankEnvironment(o, rank, port, hb_dir, restart);
  std::vector<char*> envp, argv;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  for (const auto& a : o.command) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string exec_failed = "loom launch: cannot run '" + o.command[0] + "'\n";
  const pid_t launcher = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != launcher) ::_exit(1);  // launcher already gone
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::dup2(pipes[0][1], 1);
    ::dup2(pipes[1][1], 2);
    ::execvpe(argv[0], argv.data(), envp.data());
    ssize_t ignored = ::write(2, exec_failed.data(), exec_failed.size());
    (void)ignored;
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so the group exists before any kill
  for (int i = 0; i < 2; ++i) {
    ::close(pipes[i][1]);
    r.streams[i].fd = pipes[i][0];
    r.streams[i].out_fd = i == 0 ? o.stdout_fd : o.stderr_fd;
    ::fcntl(r.streams[i].fd, F_SETFL, O_NONBLOCK);
  }
  return pid;
}

double SecondsSinceModified(const std::string& path, bool* exists) {
  struct stat st {};
  *exists = ::stat(path.c_str(), &st) == 0;
  if (!*exists) return 0;
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<double>(now.tv_sec - st.st_mtim.tv_sec) +
         1e-9 * static_cast<double>(now.tv_nsec - st.st_mtim.tv_nsec);
}

}  // namespace

int FindFreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw Error(std::string("could not find a free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

namespace {

struct Attempt {
  int exit_code = 0;
  std::string failure;      // "" when every rank exited 0
  bool by_signal = false;   // the launcher itself was signalled: never restarted
};

// One start of every rank, supervised to the end.
Attempt RunAttempt(const LaunchOptions& o, int restart) {
  const int port = o.master_port > 0 ? o.master_port : FindFreePort();
  char tmpl[] = "/tmp/loom-launch-XXXXXX";
  if (!::mkdtemp(tmpl)) throw Error(std::string("mkdtemp: ") + std::strerror(errno));
  const std::string hb_dir = tmpl;

  const int width = static_cast<int>(std::to_string(o.nproc - 1).size());
  std::vector<Rank> ranks(static_cast<size_t>(o.nproc));
  std::vector<std::string> prefixes;
  for (int i = 0; i < o.nproc; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "[rank %*d] ", width, i);
    prefixes.emplace_back(buf);
    ranks[i].index = i;
    ranks[i].pid = SpawnRank(o, i, port, hb_dir, restart, ranks[i]);
    ranks[i].running = true;
  }

  std::string failure;
  int exit_code = 0;
  bool by_signal = false;
  Clock::time_point stop_started{};
  bool stopping = false, killed = false;
  const auto begin_stop = [&](const std::string& why, int code) {
    if (stopping) return;
    stopping = true;
    failure = why;
    exit_code = code;
    stop_started = Clock::now();
    WriteAll(o.stderr_fd, "loom launch: " + why + "; stopping the other ranks\n");
    for (auto& r : ranks) {
      if (!r.running) continue;
      ::kill(-r.pid, SIGTERM);
      ::kill(-r.pid, SIGCONT);  // a stopped rank must wake to see SIGTERM
    }
  };

  for (;;) {
    // 1. Forward output.
    std::vector<pollfd> fds;
    std::vector<Stream*> owners;
    for (auto& r : ranks) {
      for (auto& s : r.streams) {
        if (s.fd >= 0) fds.push_back({s.fd, POLLIN, 0}), owners.push_back(&s);
      }
    }
    if (!fds.empty()) {
      ::poll(fds.data(), fds.size(), 100);
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents) {
          Rank* r = nullptr;
          for (auto& rr : ranks)
            if (&rr.streams[0] == owners[i] || &rr.streams[1] == owners[i]) r = &rr;
          Drain(*owners[i], prefixes[static_cast<size_t>(r->index)]);
        }
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }

    // 2. Reap exits.
    bool any_running = false;
    for (auto& r : ranks) {
      if (!r.running) continue;
      int status = 0;
      const pid_t done = ::waitpid(r.pid, &status, WNOHANG);
      if (done == r.pid) {
        r.running = false;
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        ::kill(-r.pid, SIGKILL);  // anything the rank left in its group
        if (r.exit_code != 0 && !stopping) {
          const std::string how = WIFEXITED(status)
                                      ? "exited with code " + std::to_string(r.exit_code)
                                      : std::string("was killed by signal ") +
                                            strsignal(WTERMSIG(status));
          begin_stop("rank " + std::to_string(r.index) + " " + how, r.exit_code);
        }
      } else {
        any_running = true;
      }
    }

    // 3. Signals and hangs.
    if (g_signal != 0 && !stopping) {
      const int sig = g_signal;
      by_signal = true;
      begin_stop(std::string("received ") + strsignal(sig), 128 + sig);
    }
    if (o.stop && o.stop->load() && !stopping) {
      by_signal = true;  // asked to stop: never restarted
      begin_stop("asked to stop", 128 + SIGTERM);
    }
    if (!stopping && o.hang_timeout.count() > 0) {
      for (auto& r : ranks) {
        bool exists = false;
        const double age = SecondsSinceModified(HeartbeatPath(hb_dir, r.index), &exists);
        if (r.running && exists && age * 1000 > static_cast<double>(o.hang_timeout.count())) {
          begin_stop("rank " + std::to_string(r.index) + " stopped responding (no heartbeat for " +
                         std::to_string(static_cast<int>(age)) + " s)",
                     1);
          break;
        }
      }
    }
    if (stopping && !killed && Clock::now() - stop_started > o.kill_grace) {
      for (auto& r : ranks)
        if (r.running) ::kill(-r.pid, SIGKILL);
      killed = true;
    }

    bool any_open = false;
    for (auto& r : ranks)
      for (auto& s : r.streams) any_open |= s.fd >= 0;
    if (!any_running && (!any_open || stopping)) break;
  }

  for (auto& r : ranks) {
    ::kill(-r.pid, SIGKILL);
    for (auto& s : r.streams) {
      if (s.fd >= 0) Drain(s, prefixes[static_cast<size_t>(r.index)]), ::close(s.fd), s.fd = -1;
    }
  }
  std::error_code ec;
  std::filesystem::remove_all(hb_dir, ec);
  return {exit_code, failure, by_signal};
}

}  // namespace

int Launch(const LaunchOptions& o) {
  if (o.nproc < 1) throw ConfigError(ErrorWithFix("--nproc must be >= 1", "pass --nproc N"));
  if (o.max_restarts < 0) throw ConfigError(ErrorWithFix("--max-restarts must be >= 0", "pass --max-restarts N"));
  if (o.command.empty()) {
    throw ConfigError(ErrorWithFix("no command to launch", "use: loom launch --nproc N -- CMD ..."));
  }
  g_signal = 0;
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  struct sigaction old_int {}, old_term {};
  if (o.handle_signals) {
    ::sigaction(SIGINT, &sa, &old_int);
    ::sigaction(SIGTERM, &sa, &old_term);
  }
  Attempt a;
  for (int restart = 0;; ++restart) {
    a = RunAttempt(o, restart);
    if (a.failure.empty() || a.by_signal || g_signal != 0 || restart >= o.max_restarts) break;
    if (o.restarts) o.restarts->store(restart + 1);
    WriteAll(o.stderr_fd, "loom launch: " + a.failure + "; restarting every rank (restart " + std::to_string(restart + 1) +
                    " of " + std::to_string(o.max_restarts) + ", LOOM_RESTART_COUNT=" + std::to_string(restart + 1) +
                    ")\n");
  }
  if (o.handle_signals) {
    ::sigaction(SIGINT, &old_int, nullptr);
    ::sigaction(SIGTERM, &old_term, nullptr);
  }
  if (!a.failure.empty()) WriteAll(o.stderr_fd, "loom launch: failed: " + a.failure + "\n");
  return a.exit_code;
}

}  // namespace loom::runtime
