// FSDP / HSDP: parameters sharded over the fsdp group, gathered unit by unit.
//
// A unit is a models::Module (one decoder layer, per the family's plan spec);
// the root unit holds every parameter outside the units (embeddings, final
// norm, head). Per unit, all parameters are flattened (fp32) and padded to a
// multiple of the group size N; rank r keeps elements [r*S, (r+1)*S) as its
// shard: the optimizer's parameter (fp32 master).
//
//   forward   pre-hook: all-gather the unit's flat buffer; its parameters
//             become views of it (model code is unchanged and unaware)
//             post-hook: free the buffer's storage (reshard_after_forward),
//             and hook the unit's output so its backward re-gathers first
//   backward  each parameter's post-accumulate-grad hook counts arrivals;
//             when the unit is complete its full gradients are flattened,
//             reduce-scattered (sum) into the shard's .grad and freed
//   step      FinishGradients (HSDP: all-reduce shard grads across
//             dp_replicate), ClipGradNorm (global norm over shards), then the
//             optimizer updates shards in place
//
// The root unit is gathered when the model's forward starts and kept for the
// whole forward (it is used at both ends). Memory per rank: shards (1/N) +
// the gathered units in flight. Every rank must run the same forwards and
// backwards (collectives inside the hooks).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "models/llm/decoder_lm.h"
#include "parallel/mesh/process_groups.h"

namespace loom::parallel {

struct FsdpOptions {
  bool reshard_after_forward = true;
};

class FsdpModel {
 public:
  // Shards `model` (already initialised identically on every rank) over
  // groups.fsdp; groups.dp_replicate > 1 makes it HSDP.
  FsdpModel(std::shared_ptr<models::DecoderLM> model, const ProcessGroups& groups, FsdpOptions options = {});
  ~FsdpModel();

  models::DecoderLM& model() { return *model_; }
  // The optimizer's parameters: flat fp32 shards of the units holding
  // matrices (decay = true: weight decay applies) or vectors (norms, biases).
  std::vector<at::Tensor> ShardParameters(bool decay) const;
  // Call once per optimizer step after the last backward, before clipping.
  void FinishGradients();
  // Clips shard gradients to a global norm of `max_norm` (<= 0: no clip);
  // returns the norm before clipping (as torch.nn.utils.clip_grad_norm_).
  double ClipGradNorm(double max_norm);
  // Every parameter in full, HF-named (collective: all ranks call it).
  std::vector<std::pair<std::string, at::Tensor>> GatherFullState();
  // Bytes of sharded state this rank holds (parameters; x2 with grads).
  int64_t ShardBytes() const;

  struct Unit;

 private:
  std::shared_ptr<models::DecoderLM> model_;
  ProcessGroups groups_;
  FsdpOptions options_;
  std::vector<std::unique_ptr<Unit>> units_;
};

}  // namespace loom::parallel
