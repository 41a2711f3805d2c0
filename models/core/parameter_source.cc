#include "models/core/parameter_source.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "models/core/module.h"
#include "ops/base/error.h"

namespace loom::models {

void FillParameters(Module& module, ParameterSource& source) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters()) {
    at::Tensor t = p.value();
    if (t.is_meta()) {
      throw Error("parameter '" + p.key() +
                  "' has no storage (the model was built on the meta device); build it on a real device, "
                  "or let FSDP fill its shards from the source");
    }
    source.Fill(p.key(), t.sizes(), 0, t.view({-1}));
  }
}

void PrefixRoutedSource::Route(const std::string& prefix, std::unique_ptr<ParameterSource> source) {
  routes_.emplace_back(prefix, std::move(source));
}

void PrefixRoutedSource::Fill(const std::string& name, at::IntArrayRef shape, int64_t begin, at::Tensor dst) {
  ParameterSource* best = fallback_.get();
  size_t best_size = 0;
  for (const auto& [prefix, source] : routes_) {
    if (name.rfind(prefix, 0) == 0 && prefix.size() >= best_size) best = source.get(), best_size = prefix.size();
  }
  best->Fill(name, shape, begin, dst);
}

void RebindParameter(at::Tensor& param, const at::Tensor& data) {
  if (!param.is_meta()) {
    param.set_data(data);
    return;
  }
  TORCH_CHECK(!param.grad().defined(), "RebindParameter: a meta parameter cannot have a gradient");
  param.unsafeGetTensorImpl()->shallow_copy_from(data.getIntrusivePtr());
}

}  // namespace loom::models
