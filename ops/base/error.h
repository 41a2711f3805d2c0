// Loom's exception hierarchy, shared by every layer.
//
// Inside the C++ core, bugs and environment failures are exceptions (LibTorch
// throws too). Each kind maps to one C ABI status code at the capi boundary.
// Messages name the problem *and* the fix, e.g.
//   "world size 6 != dp_replicate 1 x dp_shard 4 x sp 2 = 8; ...".
#pragma once

#include <stdexcept>
#include <string>

namespace loom {

// Base of every error Loom raises on purpose.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A user-supplied configuration, plan or command line is invalid.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A data file or sample is unusable (missing, corrupt, truncated, too
// long): the loader can skip it and count it by reason.
class DataError : public Error {
 public:
  using Error::Error;
};

// A collective or the distributed runtime failed (peer died, mismatch, ...).
class DistError : public Error {
 public:
  using Error::Error;
};

// A collective did not finish within its timeout.
class DistTimeoutError : public DistError {
 public:
  using DistError::DistError;
};

// Rendezvous / store / network failure.
class DistNetworkError : public DistError {
 public:
  using DistError::DistError;
};

// Formats "what: fix" consistently; both parts are required.
std::string ErrorWithFix(const std::string& what, const std::string& fix);

}  // namespace loom
