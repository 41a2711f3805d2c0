#include "tests/testing/oracle.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>

#include <ATen/ATen.h>
#include <torch/nn/utils/clip_grad.h>

#include "sdk/train/optimizer.h"

namespace loom::testing {

namespace fs = std::filesystem;

std::string VenvPython() { return std::string(LOOM_SOURCE_DIR) + "/.venv/bin/python"; }
std::string OracleScript(const std::string& file_name) {
  return std::string(LOOM_SOURCE_DIR) + "/tests/models/" + file_name;
}

std::string CudaVenvPython() { return std::string(LOOM_SOURCE_DIR) + "/.venv-cuda/bin/python"; }

std::string VersionsOf(const std::string& python) {
  const std::string cmd = python + " -c \"import importlib.metadata as m; "
                          "print('torch', m.version('torch'), 'transformers', m.version('transformers'))\" 2>/dev/null";
  std::string out;
  if (FILE* pipe = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), pipe)) out += buf;
    ::pclose(pipe);
  }
  if (out.empty()) {
    throw std::runtime_error("cannot read the torch/transformers versions of " + python +
                             " (run `make deps`, or `make deps-oracle` for .venv-cuda)");
  }
  return out;
}

const std::string& OracleVersions() {
  static const std::string versions = VersionsOf(VenvPython());
  return versions;
}

std::string OracleDir(const std::string& script, const std::string& what) {
  return OracleDirWith(VenvPython(), script, what);
}

std::string OracleDirWith(const std::string& python, const std::string& script, const std::string& what) {
  std::ifstream in(script);
  if (!in) throw std::runtime_error("no oracle script " + script);
  std::stringstream text;
  text << in.rdbuf() << (python == VenvPython() ? OracleVersions() : VersionsOf(python));
  // The helpers the oracles import are part of what they compute.
  if (std::ifstream common{fs::path(script).parent_path() / "oracle_common.py"}) text << common.rdbuf();
  const std::string stem = fs::path(script).stem().string();
  const std::string key =
      stem + "-" + what + "-" + std::to_string(std::hash<std::string>{}(text.str()) % 1000000007);
  const fs::path root = fs::path(LOOM_BINARY).parent_path() / "oracle";
  const fs::path final_dir = root / key;
  if (fs::exists(final_dir / "ref.safetensors")) return final_dir.string();
  const fs::path tmp = root / (key + ".tmp" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  const std::string cmd = python + " " + script + " make " + what + " " + tmp.string() + " > " +
                          tmp.string() + "/oracle.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(tmp / "oracle.log");
    std::stringstream ss;
    ss << log.rdbuf();
    throw std::runtime_error("the transformers oracle " + script + " failed (run `make deps`?):\n" + ss.str());
  }
  std::error_code ec;
  fs::rename(tmp, final_dir, ec);  // another process may have won the race
  if (ec) fs::remove_all(tmp);
  return final_dir.string();
}

OracleRef::OracleRef(const std::string& script, const std::string& what)
    : dir_(OracleDir(script, what)), ref_(models::SafetensorsFiles::Open(dir_ + "/ref.safetensors")) {}

at::Tensor OracleRef::Get(const std::string& name) const { return ref_.Get(name).clone(); }

std::vector<double> OracleAdamWLosses(const std::vector<at::Tensor>& params, const std::function<at::Tensor()>& loss,
                                      int64_t steps) {
  config::TrainConfig optim;
  optim.lr = 1e-3, optim.beta1 = 0.9, optim.beta2 = 0.95, optim.eps = 1e-8, optim.weight_decay = 0.1;
  auto opt = train::BuildAdamW(params, optim);
  std::vector<double> losses;
  for (int64_t step = 0; step < steps; ++step) {
    opt->zero_grad();
    auto l = loss();
    l.backward();
    torch::nn::utils::clip_grad_norm_(params, 1.0);
    opt->step();
    losses.push_back(l.item<double>());
  }
  return losses;
}

double MaxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

double RelativeDiff(const at::Tensor& got, const at::Tensor& want) {
  return MaxAbsDiff(got, want) / std::max(1e-30, want.abs().max().item<double>());
}

}  // namespace loom::testing
