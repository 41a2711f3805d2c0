#include "models/core/module_weights.h"

#include <set>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "ops/base/error.h"

namespace loom::models {
namespace {

std::string Shape(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

void LoadModuleWeights(Module& module, const SafetensorsFiles& files, const std::string& prefix) {
  const auto params = module.named_parameters();
  std::set<std::string> wanted;
  for (const auto& p : params) {
    const std::string name = prefix + p.key();
    wanted.insert(name);
    if (!files.Has(name)) {
      throw ConfigError(ErrorWithFix("the checkpoint has no tensor '" + name + "'",
                                     "check that the checkpoint's config.json describes this model"));
    }
    const auto t = files.Get(name);
    if (t.sizes() != p.value().sizes()) {
      throw ConfigError(ErrorWithFix("tensor '" + name + "' has shape " + Shape(t.sizes()) + ", the model expects " +
                                         Shape(p.value().sizes()),
                                     "check the sizes in config.json against the checkpoint"));
    }
  }
  for (const auto& name : files.Names()) {
    if (name.rfind(prefix, 0) == 0 && !wanted.count(name)) {
      throw ConfigError(ErrorWithFix("the checkpoint's tensor '" + name + "' is not a parameter of this model",
                                     "check that the checkpoint's config.json describes this model"));
    }
  }
  at::NoGradGuard no_grad;
  for (const auto& p : params) p.value().copy_(files.Get(prefix + p.key()));
}

std::vector<std::pair<std::string, at::Tensor>> ModuleState(const Module& module, const std::string& prefix) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : module.named_parameters()) out.emplace_back(prefix + p.key(), p.value().detach());
  return out;
}

void InitModuleWeights(Module& module, double std, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (const auto& p : module.named_parameters()) {
    auto w = p.value();
    if (EndsWith(p.key(), "bias")) {
      w.zero_();
    } else if (w.dim() >= 2) {
      w.copy_(at::normal(0.0, std, w.sizes(), gen));
    } else {
      w.fill_(1.0);  // norm weights
    }
  }
}

}  // namespace loom::models
