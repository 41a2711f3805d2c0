// The transformers oracles (tests/models/*_oracle.py): Python scripts run in
// the project venv that build tiny random Hugging Face models and save their
// weights and reference outputs as safetensors for a C++ parity test.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "models/core/safetensors.h"

namespace loom::testing {

// The project venv's python and a script under tests/models.
std::string VenvPython();
std::string OracleScript(const std::string& file_name);

// "torch X transformers Y" of the venv (read once, from package metadata).
const std::string& OracleVersions();

// Runs `script make WHAT DIR` once per script text, `what` and library
// versions: results are cached under the build tree (LOOM_BINARY's
// directory), keyed by a hash of the script and the venv's torch and
// transformers versions, and published with an atomic rename so parallel
// test processes share them. Returns DIR; throws with the oracle's log when
// it fails.
std::string OracleDir(const std::string& script, const std::string& what);

// One oracle run: its directory and its reference tensors (DIR/ref.safetensors).
class OracleRef {
 public:
  OracleRef(const std::string& script, const std::string& what);
  const std::string& dir() const { return dir_; }
  at::Tensor Get(const std::string& name) const;  // a writable copy

 private:
  std::string dir_;
  models::SafetensorsFiles ref_;
};

// max |a - b| in fp64, and that divided by max |want| (the parity bounds).
double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b);
double RelativeDiff(const at::Tensor& got, const at::Tensor& want);

}  // namespace loom::testing
