// Per-rank memory of an omni model's plan, component by component, for
// `loom plan CONFIG` (memory_estimate.h holds the LLM's estimate and its
// accuracy). Each rank holds every component's shards, so the per-rank
// total is the sum over components:
//
//   state        exact: each component's fp32 parameters, gradients and
//                AdamW moments over its own FSDP group, plus its largest
//                gathered unit;
//   activations  the foundation's (EstimateMemory, over this rank's SP slice)
//                and each encoder's over the media of the rank's micro-batch
//                (encoders are not sequence-split: every SP rank runs them on
//                its data rank's whole rows).
//
// Media are an assumption, not data: `media_fraction` of every row's LLM
// tokens are each encoder's placeholders (0.25: a quarter image tokens and
// a quarter audio tokens when both are present). Vision: each placeholder is
// merge_units patches. Audio: clips of the encoder's full length, as many as
// the placeholders need. An encoder block saves per position, in fp32, its
// norm inputs and outputs, q/k/v and the rotated q/k, the attention output
// and log-sum-exp (flash, no T x T term), and the MLP's hidden and activated
// values; full recompute keeps one input per block plus one block's
// activations, selective drops the MLP terms of all but one block.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/omni/omni_config.h"
#include "parallel/plan/memory_estimate.h"
#include "parallel/plan/plan.h"

namespace loom::parallel {

struct ComponentEstimate {
  std::string name;           // the plan component (vision, audio, llm)
  int64_t positions = 0;      // what its activations are counted over, per rank (tokens, patches, audio positions)
  MemoryEstimate estimate;
};

// One estimate per component of `plan` (names as OmniModel::component_specs).
std::vector<ComponentEstimate> EstimateOmniMemory(const models::OmniConfig& config, const Plan& plan, int64_t seq_len,
                                                  int64_t rows_per_rank, double media_fraction);
int64_t TotalBytes(const std::vector<ComponentEstimate>& estimates);

// The longest row (LLM tokens, before SP) whose total fits `budget_bytes`;
// 0 when not even one token fits. As LongestSeqLenWithin.
int64_t LongestOmniSeqLenWithin(int64_t budget_bytes, const models::OmniConfig& config, const Plan& plan,
                                int64_t rows_per_rank, double media_fraction);

}  // namespace loom::parallel
