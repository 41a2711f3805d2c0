// TrainableModel: what the engine (executors, train step, Trainer) needs of
// any model it trains: a root models::Module with a PlanSpec, a loss over a
// batch of token positions, op slots a plan may redirect, and an export.
// An LLM (DecoderLM) is one; omni models are the next. Nothing here
// communicates: executors attach through hooks and op slots.
//
// Legend: B rows, T positions.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "models/core/module.h"
#include "models/core/plan_spec.h"
#include "ops/attention/attention.h"
#include "ops/moe/expert_dispatcher.h"

namespace loom::models {

class RouterStats;

// The encoder inputs of one micro-batch, for omni models (undefined: none of
// that kind). Images and videos are in the order their placeholder runs
// appear in input_ids, row by row.
// Legend: N image patches, P flattened patch (C x temporal_patch x patch x patch),
// A clips, M mel bins, F frames.
struct MediaInputs {
  at::Tensor pixel_values;         // (N, P) every image's patches, concatenated
  at::Tensor image_grid_thw;       // (I, 3) int64 patch grid of each image
  at::Tensor pixel_values_videos;  // (Nv, P) every video's patches
  at::Tensor video_grid_thw;       // (V, 3) int64
  at::Tensor input_features;       // (A, M, F) log-mel features of A audio clips, padded to F frames
  at::Tensor feature_lengths;      // (A) int64 real frames per clip (undefined: all F)

  bool empty() const {
    return !pixel_values.defined() && !pixel_values_videos.defined() && !input_features.defined();
  }
};

// The part of the sequence this rank computes under sequence parallelism:
// positions [rank * S, (rank + 1) * S) of the rows right-padded to size * S.
struct SequenceShard {
  int64_t rank = 0, size = 1;
};

// What one forward needs besides the weights.
struct ModelInputs {
  at::Tensor input_ids;     // (B, T) int64
  at::Tensor position_ids;  // (B, T) int64, or (3, B, T) for M-RoPE models; undefined = 0..T-1 (or the
                            // model's own multimodal positions)
  at::Tensor doc_ids;       // (B, T) int64 packed-document ids (-1 padding); undefined = one doc
  MediaInputs media{};      // an omni model's encoder inputs; text models refuse them
  // For models that slice the sequence themselves (SlicesSequenceItself):
  // the inputs above are whole, and the model computes this shard of them.
  SequenceShard sequence{};
  // doc_ids' runs over whole rows (the collator's; null: derived when needed).
  std::shared_ptr<const ops::PackedSegments> segments{};
  // labels-shaped int64 group of each label in [0, G) (or undefined):
  // LossSum also sums the token losses per group (LastLossByGroup).
  at::Tensor loss_groups{};
  int64_t n_loss_groups = 0;
};

class TrainableModel : public Module {
 public:
  using Module::Module;
  ~TrainableModel() override = default;

  // The family's spec with this instance's head and expert counts.
  virtual PlanSpec plan_spec() const = 0;
  // The components a plan may treat separately, in forward order (each its
  // own FSDP mesh, recompute, precision). Default: one, the whole model.
  virtual std::vector<ComponentSpec> component_specs() const { return {{"model", "", plan_spec(), family()}}; }
  // Sum of token losses over labels (B, T) != -100; the model's forward runs
  // through this root module's CallWithHooks (executors hook the root there).
  virtual at::Tensor LossSum(const ModelInputs& in, const at::Tensor& labels, int64_t chunk_size) = 0;
  // Whether the model takes whole sequences and slices them itself under
  // sequence parallelism (ModelInputs::sequence): an omni model places
  // encoder outputs first, so a span may cross a slice boundary. Otherwise
  // each rank is given its slice (sdk/train/sequence_slice.h), labels
  // always so.
  virtual bool SlicesSequenceItself() const { return false; }
  // The last LossSum's token losses summed per loss group, (G) fp32 without
  // gradient; undefined when its inputs had no loss_groups.
  virtual at::Tensor LastLossByGroup() const { return last_loss_by_group_; }
  // Weighted auxiliary loss of the last LossSum (0 when the model has none).
  virtual double AuxLoss() const { return 0.0; }
  // Router statistics of the last recorded forward (MoE models), else null.
  // The loss boundary (sdk/train/train_step) sums them over ranks.
  virtual RouterStats* router_stats() const { return nullptr; }

  // Op slots a parallel plan redirects (Ulysses attention, EP dispatch).
  // Models without attention or experts refuse, naming the spec field.
  virtual void SetAttentionBackend(std::shared_ptr<ops::AttentionBackend> backend);
  virtual void SetExpertDispatcher(std::shared_ptr<ops::ExpertDispatcher> dispatcher);

  // Writes `state` (every parameter, named as named_parameters() names it,
  // e.g. FSDP's gathered state) as a model directory others can load; the
  // model maps its names to the export's (e.g. stacked experts per expert).
  virtual void SaveExport(std::vector<std::pair<std::string, at::Tensor>> state, const std::string& dir) const = 0;
  // Short human name ("qwen3", ...) for logs and errors.
  virtual std::string family() const = 0;
  virtual int64_t NumParameters() const;

 protected:
  at::Tensor last_loss_by_group_;
};

// The chunked cross-entropy sum of hidden states h (B, T, C) under a head
// weight (V, C) against labels (B, T); with in.loss_groups also the token
// losses per group into *by_group ((G) fp32; else it is reset).
at::Tensor LossOfHidden(const at::Tensor& h, const at::Tensor& head, const at::Tensor& labels, const ModelInputs& in,
                        int64_t chunk_size, at::Tensor* by_group);

}  // namespace loom::models
