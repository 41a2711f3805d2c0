// Starting and watching real processes from tests (launcher tests).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace loom::testing {

struct Child {
  pid_t pid = -1;
  int output_fd = -1;  // stdout+stderr of the child, read end
};

// fork+exec `argv` with stdout/stderr to a pipe.
Child Spawn(const std::vector<std::string>& argv);

// Reads the child's output until EOF or until `pattern` appears (returns
// true then), giving up after `timeout_s`. Appends what it read to *out.
bool ReadUntil(const Child& child, const std::string& pattern, double timeout_s, std::string* out);

// Waits up to `timeout_s` for exit; returns the exit code (128+signal when
// killed) or -1 on timeout. *seconds gets the time waited.
int WaitExit(const Child& child, double timeout_s, double* seconds = nullptr);

// Direct children of `pid` (from /proc).
std::vector<pid_t> ChildrenOf(pid_t pid);

// True if a process whose command line contains `marker` is alive.
bool AnyProcessWithMarker(const std::string& marker);

}  // namespace loom::testing
