// ComponentFsdp: the FsdpModels of one model's components (an omni model's
// vision tower FSDP over the whole world, its LLM HSDP 2 x 2, ...) driven as
// one: the optimizer's shards of all of them, one global gradient norm, one
// full state. Each component keeps its own groups, units and collectives;
// every rank runs every component's forward and backward (an encoder with
// no input on a rank still runs, on no rows), so the collectives match.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "parallel/fsdp/fsdp.h"

namespace loom::parallel {

class ComponentFsdp {
 public:
  explicit ComponentFsdp(std::vector<FsdpModel*> components);

  // Every component's flat shards (decay: matrices, else vectors).
  std::vector<at::Tensor> ShardParameters(bool decay) const;
  // Each component's FinishGradients (HSDP replica all-reduce, ...).
  void FinishGradients();
  // Clips all gradients to one global norm over every component (as one
  // torch.nn.utils.clip_grad_norm_ over the whole model); returns it.
  double ClipGradNorm(double max_norm);
  // Every parameter in full, named as the model names it (collective).
  std::vector<std::pair<std::string, at::Tensor>> GatherFullState(bool rank0_only = false);
  int64_t ShardBytes() const;
  const std::vector<FsdpModel*>& components() const { return components_; }

 private:
  std::vector<FsdpModel*> components_;
};

}  // namespace loom::parallel
