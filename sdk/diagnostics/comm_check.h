// comm-check: runs every collective of a Communicator with inputs whose
// results have a closed form, checks every element, and times each op.
// Values are small integers (halves for avg) so fp32 and bf16 are exact.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

#include "parallel/comm/communicator.h"

namespace loom::diagnostics {

struct CommCheckOptions {
  int64_t bytes = 1 << 20;    // per-rank input size of each op
  int iters = 3;              // timed iterations per op (after one checked warm-up)
  double duration_s = 0;      // > 0: repeat the whole suite until this long has passed
  c10::ScalarType dtype = c10::ScalarType::Float;
};

struct CommCheckResult {
  std::string op;
  int64_t bytes = 0;       // per-rank input bytes
  double seconds = 0;      // mean wall time per call
  double bytes_per_s = 0;  // bytes / seconds
  bool ok = true;
  std::string error;       // first mismatch, when !ok
};

// Collective over `comm`. Returns one result per op (last repetition).
std::vector<CommCheckResult> RunCommCheck(comm::Communicator& comm,
                                          const CommCheckOptions& options);

// A fixed-width table of results.
void PrintCommCheck(std::ostream& out, const std::vector<CommCheckResult>& results);

}  // namespace loom::diagnostics
