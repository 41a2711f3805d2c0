// The transformers oracles (tests/models/*_oracle.py): Python scripts run in
// the project venv that build tiny random Hugging Face models and save their
// weights and reference outputs as safetensors for a C++ parity test.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/core/safetensors.h"

namespace loom::testing {

// The project venv's python and a script under tests/models.
std::string VenvPython();
std::string OracleScript(const std::string& file_name);

// "torch X transformers Y" of the venv (read once, from package metadata).
const std::string& OracleVersions();
// The same for another venv's python.
std::string VersionsOf(const std::string& python);

// Runs `script make WHAT DIR` once per script text, `what` and library
// versions (and tests/models/oracle_common.py, which the scripts import):
// results are cached under the build tree (LOOM_BINARY's
// directory), keyed by a hash of the script and the venv's torch and
// transformers versions, and published with an atomic rename so parallel
// test processes share them. Returns DIR; throws with the oracle's log when
// it fails.
std::string OracleDir(const std::string& script, const std::string& what);
// The same with another venv's python (e.g. CudaVenvPython()).
std::string OracleDirWith(const std::string& python, const std::string& script, const std::string& what);
// .venv-cuda's python (scripts/deps_cuda_venv.sh: torch 2.14.1 + torchvision).
std::string CudaVenvPython();

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

// The oracles' training loop: AdamW (lr 1e-3, betas 0.9 / 0.95, eps 1e-8,
// weight decay 0.1 on parameters with dim >= 2), gradients clipped to norm
// 1.0, `steps` steps of `loss()`; returns each step's loss before its update.
std::vector<double> OracleAdamWLosses(const std::vector<at::Tensor>& params, const std::function<at::Tensor()>& loss,
                                      int64_t steps);

// max |a - b| in fp64, and that divided by max |want| (the parity bounds).
double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b);
double RelativeDiff(const at::Tensor& got, const at::Tensor& want);

}  // namespace loom::testing
