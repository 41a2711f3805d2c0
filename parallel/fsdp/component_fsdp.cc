#include "parallel/fsdp/component_fsdp.h"

#include <algorithm>
#include <cmath>

#include "ops/base/error.h"

namespace loom::parallel {

ComponentFsdp::ComponentFsdp(std::vector<FsdpModel*> components) : components_(std::move(components)) {
  if (components_.empty()) throw Error("ComponentFsdp: no components");
}

std::vector<at::Tensor> ComponentFsdp::ShardParameters(bool decay) const {
  std::vector<at::Tensor> out;
  for (auto* c : components_) {
    auto shards = c->ShardParameters(decay);
    out.insert(out.end(), shards.begin(), shards.end());
  }
  return out;
}

void ComponentFsdp::FinishGradients() {
  for (auto* c : components_) c->FinishGradients();
}

double ComponentFsdp::ClipGradNorm(double max_norm) {
  double sumsq = 0;
  for (auto* c : components_) sumsq += c->GradSquaredSum();
  const double norm = std::sqrt(sumsq);
  if (max_norm > 0) {
    const double coef = std::min(1.0, max_norm / (norm + 1e-6));
    for (auto* c : components_) c->ScaleGradients(coef);
  }
  return norm;
}

std::vector<std::pair<std::string, at::Tensor>> ComponentFsdp::GatherFullState(bool rank0_only) {
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (auto* c : components_) {
    auto part = c->GatherFullState(rank0_only);
    state.insert(state.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return state;
}

int64_t ComponentFsdp::ShardBytes() const {
  int64_t bytes = 0;
  for (auto* c : components_) bytes += c->ShardBytes();
  return bytes;
}

}  // namespace loom::parallel
