// FSDP / HSDP: parameters sharded over the fsdp group, gathered unit by unit.
//
// Applies to any models::TrainableModel through its PlanSpec: a unit is each
// module matching spec.fsdp_unit_pattern (e.g. one decoder layer), or
// FsdpOptions::layers_per_unit consecutive ones; the root unit holds every
// parameter outside the units (embeddings, final norm, head), hooked on the
// model's own forward. Per unit, all parameters are flattened (fp32) and padded to a
// multiple of the group size N; rank r keeps elements [r*S, (r+1)*S) as its
// shard: the optimizer's parameter (fp32 master).
//
//   forward   pre-hook: all-gather the unit's flat buffer (in param_dtype, on
//             the compute device); its parameters become views of it (model
//             code is unchanged and unaware); with prefetch, the next
//             block's all-gather is issued before this block computes
//             post-hook: free the buffer's storage (reshard_after_forward),
//             and hook the unit's output so its backward re-gathers first
//             (with prefetch, it also issues the re-gather of the block
//             whose backward comes next)
//   backward  each parameter's post-accumulate-grad hook counts arrivals;
//             when the unit is complete its full gradients are flattened
//             (reduce_dtype) and their reduce-scatter (sum) issued, which
//             overlaps the next unit's backward (at most two in flight); each
//             is accumulated into the fp32 shard's .grad when a later one
//             starts or when the backward ends. Reduce-scatters are issued in
//             one fixed order on every rank (the reverse of the forward, the
//             root last): a unit complete early waits for those before it.
//             A parameter that gets no gradient on some rank (an unused
//             branch, a frozen path) is flushed as zeros when the backward
//             ends, so no rank waits for it and every rank issues the same
//             collectives in the same order.
//   step      FinishGradients (HSDP: all-reduce shard grads across
//             dp_replicate, in reduce_dtype), ClipGradNorm (global norm over shards), then the
//             optimizer updates shards in place (on the CPU with offload)
//
// With expert parallelism (groups.ep > 1) each layer's stacked expert
// weights form their own unit: this ep rank's experts, over expert_fsdp.
//
// The root unit is gathered when the model's forward starts and kept for the
// whole forward (it is used at both ends). Memory per rank: shards (1/N) +
// the gathered units in flight (two layers with prefetch). Every rank must
// run the same forwards and backwards (collectives inside the hooks).
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "models/core/parameter_source.h"
#include "models/core/trainable_model.h"
#include "parallel/mesh/process_groups.h"

namespace loom::parallel {

struct FsdpOptions {
  // Consecutive decoder layers per FSDP unit (gathered, freed and
  // reduce-scattered together): fewer, larger collectives for more gathered
  // memory. 1 = each layer its own unit (the family's plan spec).
  int layers_per_unit = 1;
  bool reshard_after_forward = true;
  // Issue the next block's all-gather (forward: registration order, i.e.
  // root, layer 0, 1, ...; backward: the reverse) before the current block
  // computes, and wait for it in that block's hook.
  bool prefetch = true;
  // Dtype of the gathered parameters the forward/backward computes with
  // (shards are cast before the all-gather: bf16 moves half the bytes).
  at::ScalarType param_dtype = at::kFloat;
  // Dtype in which gradients are reduce-scattered (then accumulated into
  // fp32 shard gradients).
  at::ScalarType reduce_dtype = at::kFloat;
  // Keep fp32 shards, their gradients and the optimizer state on the CPU
  // (pinned when CUDA is available); each shard is copied to `device` before
  // its all-gather and its reduced gradient copied back.
  bool offload = false;
  // The compute device: gathered buffers, gradients, reduce-scatters.
  at::Device device = at::kCPU;
  // The component this FSDP covers: a module path among the model's
  // component_specs() ("" = the whole model, with its plan_spec()). Its
  // module's own forward hooks gather the component's root unit; other
  // components keep their parameters (each gets its own FsdpModel).
  std::string module_path;
};

// Counters since construction (this rank).
struct FsdpStats {
  int64_t gathers_prefetched = 0;    // forward: issued before the unit's pre-hook
  int64_t gathers_on_demand = 0;     // forward: issued by the unit's own pre-hook
  int64_t regathers_prefetched = 0;  // backward: issued before the unit's backward hook
  int64_t regathers_on_demand = 0;   // backward: issued by its own hook
  int64_t bytes_gathered = 0;        // all-gather output bytes (forward + backward)
  int64_t bytes_reduced = 0;         // reduce-scatter input bytes
  int64_t bytes_replica_reduced = 0; // HSDP: shard-gradient bytes all-reduced across dp_replicate
  int64_t reduces_overlapped = 0;    // reduce-scatters issued while an earlier one was in flight
  int64_t bytes_to_device = 0;       // offload: shard bytes copied host -> compute device
  int64_t bytes_to_host = 0;         // offload: gradient bytes copied back
};

class FsdpModel {
 public:
  // Shards `model` over groups.fsdp; groups.dp_replicate > 1 makes it HSDP.
  // Shard values come from `source` when given (sharded construction: the
  // model may be built on at::kMeta and is never materialised; each rank
  // reads or generates only its slices, models/llm/weight_sources.h), else
  // from the model's own parameters (initialised identically on every rank).
  // Either way the model's parameters hold no storage afterwards.
  FsdpModel(std::shared_ptr<models::TrainableModel> model, const ProcessGroups& groups, FsdpOptions options = {},
            models::ParameterSource* source = nullptr);
  // Waits for collectives in flight and removes exactly the hooks this
  // object installed (other executors' hooks and wrappers stay).
  ~FsdpModel();

  models::TrainableModel& model() { return *model_; }
  const FsdpOptions& options() const { return options_; }
  const FsdpStats& stats() const { return stats_; }
  // Where the shards, their gradients and the optimizer state live.
  at::Device ShardDevice() const;
  // The optimizer's parameters: flat fp32 shards of the units holding
  // matrices (decay = true: weight decay applies) or vectors (norms, biases).
  // Frozen parameters (requires_grad false, e.g. an audio encoder's position
  // table) form units of their own: sharded and gathered, never reduced or
  // returned here.
  std::vector<at::Tensor> ShardParameters(bool decay) const;
  // Call once per optimizer step after the last backward, before clipping.
  void FinishGradients();
  // Clips shard gradients to a global norm of `max_norm` (<= 0: no clip);
  // returns the norm before clipping (as torch.nn.utils.clip_grad_norm_).
  double ClipGradNorm(double max_norm);
  // ClipGradNorm's two halves, for a model with one FsdpModel per component
  // (parallel/plan/component_fsdp.h): the sum of squares of this
  // component's gradients over every rank (collective), and scaling them.
  double GradSquaredSum();
  void ScaleGradients(double coef);
  // Every parameter in full, named as the model names it (collective: all
  // ranks call it). Gathered one unit at a time; with rank0_only only world
  // rank 0 keeps them (the others return nothing and never hold more than
  // one unit), as for export.
  std::vector<std::pair<std::string, at::Tensor>> GatherFullState(bool rank0_only = false);
  // Bytes of sharded state this rank holds (parameters; x2 with grads).
  int64_t ShardBytes() const;

  // One unit's layout on this rank: `numel` real elements padded to
  // `padded` (a multiple of the group size); `shard` is (padded / N) and its
  // elements past numel - rank * (padded / N) are padding (always zero).
  struct UnitView {
    std::string name;
    int64_t numel = 0, padded = 0, group_rank = 0, group_size = 1;
    at::Tensor shard;  // positions [group_rank * padded / group_size, ...) of the unit's flat buffer
    // The unit's flat buffer, parameter by parameter: `numel` values of
    // parameter `name` (its full shape `shape`) start at `offset` in the
    // buffer and are positions [begin, begin + numel) of the flattened full
    // parameter (an expert slice: this ep rank's experts). What a
    // checkpoint needs to save and reload the shard under another layout.
    struct Member {
      std::string name;
      std::vector<int64_t> shape;
      int64_t offset = 0, numel = 0, begin = 0;
    };
    std::vector<Member> members;
  };
  std::vector<UnitView> Units() const;

  struct Unit;
  struct Block;

 private:
  // A unit's gradients are complete (inside backward): start its
  // reduce-scatter; older ones finish as newer start, the rest when the
  // backward ends (an autograd-engine callback) or at FinishGradients.
  void GradientsComplete(Unit* unit);
  // Issues, in reduce order, every unit whose gradients are complete (with
  // `flush`, also those whose forward ran but whose gradients never all
  // came: their missing gradients count as zero), then bounds the number in flight.
  void IssueReduceScatters(bool flush);
  // End of a backward (an autograd-engine callback): flush, then wait for all.
  void FinishBackward();
  void QueueFinishBackward();
  // Waits for the reduce-scatters in flight.
  void DrainReduceScatters();
  // Construction, in order: the units and blocks (which parameters gather
  // together), each unit's flat layout, the shards' values (from `source` or
  // the parameters), the forward/backward hooks.
  void FindComponent();
  void GroupIntoUnits();
  void LayOutShards();
  void FillShards(models::ParameterSource* source);
  void InstallHooks();

  // The component's parameters, named as the model names them.
  std::vector<std::pair<std::string, at::Tensor>> NamedParameters() const;

  std::shared_ptr<models::TrainableModel> model_;
  models::Module* root_ = nullptr;  // the component's module (the model itself by default)
  models::PlanSpec spec_;           // the component's spec
  std::string prefix_;              // module_path + "." ("" for the whole model)
  ProcessGroups groups_;
  comm::CommunicatorPtr fsdp_reduce_, expert_reduce_;  // reduce-scatters only
  FsdpOptions options_;
  FsdpStats stats_;
  std::vector<std::unique_ptr<Unit>> units_;
  // Gather order: blocks_[0] the root, then one per decoder layer.
  std::vector<std::unique_ptr<Block>> blocks_;
  std::deque<Unit*> reducing_;  // reduce-scatters in flight, oldest first
  std::vector<Unit*> reduce_order_;  // blocks in reverse, the root's units last
  size_t next_reduce_ = 0;           // in reduce_order_, for the backward running now
  bool finish_queued_ = false;
  // Every hook this object installed, removed by the destructor.
  std::vector<std::pair<models::Module*, models::Module::HookId>> hooks_;
};

}  // namespace loom::parallel
