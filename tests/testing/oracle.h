// The transformers oracles (tests/models/*_oracle.py): Python scripts run in
// the project venv that build tiny random Hugging Face models and save their
// weights and reference outputs as safetensors for a C++ parity test.
#pragma once

#include <string>

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

}  // namespace loom::testing
