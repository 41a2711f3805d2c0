// Whole-module weight I/O by exact parameter names, for components whose
// checkpoint names are their named_parameters() names under a prefix (the
// vision and audio towers: "visual." + "blocks.0.attn.qkv.weight").
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/core/module.h"
#include "models/core/safetensors.h"

namespace loom::models {

// Copies every parameter of `module` from files[prefix + name]. Strict: a
// missing tensor, a shape mismatch, or a tensor under `prefix` the module
// lacks is a ConfigError naming the tensor, the file and the fix; nothing is
// written until every check passed.
void LoadModuleWeights(Module& module, const SafetensorsFiles& files, const std::string& prefix);

// (prefix + name, detached tensor) for every parameter, in named_parameters() order.
std::vector<std::pair<std::string, at::Tensor>> ModuleState(const Module& module, const std::string& prefix);

// HF-style random init: every parameter named *.weight with dim >= 2 drawn
// from normal(0, std), LayerNorm weights 1, biases 0. Deterministic in `seed`.
void InitModuleWeights(Module& module, double std, uint64_t seed);

}  // namespace loom::models
