// Process memory figures for the run store's peak_mem_bytes column.
#pragma once

#include <cstdint>

namespace loom::metrics {

/// Peak resident set size of this process so far, in bytes (getrusage
/// RUSAGE_SELF ru_maxrss; Linux reports KiB). Monotonic; 0 if unavailable.
/// Thread-safe, cheap (one syscall). Host memory only: device memory peaks
/// come from the accelerator's allocator.
int64_t PeakRssBytes();

}  // namespace loom::metrics
