#include "tests/testing/subprocess.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace loom::testing {
namespace {
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

Child Spawn(const std::vector<std::string>& argv) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(p[1], 1);
    ::dup2(p[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(p[1]);
  return {pid, p[0]};
}

bool ReadUntil(const Child& child, const std::string& pattern, double timeout_s, std::string* out) {
  const auto start = Clock::now();
  char buf[4096];
  while (Since(start) < timeout_s) {
    if (!pattern.empty() && out->find(pattern) != std::string::npos) return true;
    pollfd pfd{child.output_fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = ::read(child.output_fd, buf, sizeof(buf));
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  return !pattern.empty() && out->find(pattern) != std::string::npos;
}

int WaitExit(const Child& child, double timeout_s, double* seconds) {
  const auto start = Clock::now();
  while (Since(start) < timeout_s) {
    int status = 0;
    if (::waitpid(child.pid, &status, WNOHANG) == child.pid) {
      if (seconds) *seconds = Since(start);
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    // Keep the pipe drained so the child never blocks on a full pipe.
    char buf[4096];
    pollfd pfd{child.output_fd, POLLIN, 0};
    if (::poll(&pfd, 1, 20) > 0) (void)!::read(child.output_fd, buf, sizeof(buf));
  }
  if (seconds) *seconds = Since(start);
  return -1;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> kids;
  std::ifstream f("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t k;
  while (f >> k) kids.push_back(k);
  return kids;
}

bool AnyProcessWithMarker(const std::string& marker) {
  DIR* d = ::opendir("/proc");
  if (!d) return false;
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream f("/proc/" + name + "/cmdline");
    std::stringstream ss;
    ss << f.rdbuf();
    std::string cmd = ss.str();
    for (auto& c : cmd)
      if (c == '\0') c = ' ';
    // Zombies have an empty cmdline and are not "left behind" processes.
    if (cmd.find(marker) != std::string::npos) found = true;
  }
  ::closedir(d);
  return found;
}

}  // namespace loom::testing
