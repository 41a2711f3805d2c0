// Per-rank memory estimate of a training layout, for `loom plan CONFIG`.
//
// Exact for sharded state (fp32 parameters, gradients and two AdamW moments,
// each split 1/N over the fsdp group: bench.fsdp_memory measures 1.000x);
// approximate for activations: per token and layer the tensors autograd saves
// in a dense decoder (norm inputs/outputs, q/k/v and their rotated copies,
// attention output, MLP gate/up/activation, or a MoE block's router
// probabilities and its k routed copies; attention is flash per document,
// so no T x T term), in fp32, for this rank's ceil(T / sp) positions.
// tests/parallel/memory_estimate_test.cc holds it against measured peaks. Recompute keeps one layer input per
// layer plus one layer's activations (full), or drops the MLP terms
// (selective).
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "models/llm/llm_config.h"
#include "parallel/mesh/parallel_state.h"
#include "parallel/recompute/recompute.h"

namespace loom::parallel {

struct MemoryEstimate {
  int64_t parameters = 0;          // model parameters (count)
  int64_t param_bytes = 0;         // per rank, sharded fp32
  int64_t grad_bytes = 0;
  int64_t optimizer_bytes = 0;     // AdamW exp_avg + exp_avg_sq
  int64_t gathered_unit_bytes = 0; // the largest unit, all-gathered (x2 in backward: params + grads)
  int64_t activation_bytes_per_token = 0;
  int64_t activation_bytes = 0;    // for tokens_per_rank tokens per micro-batch
  int64_t total_bytes = 0;
};

// `layers_per_unit`: consecutive decoder layers per FSDP unit (the gathered unit grows with it).
MemoryEstimate EstimateMemory(const models::LlmConfig& model, const ParallelState& state,
                              RecomputePolicy recompute, int64_t seq_len, int64_t rows_per_rank,
                              int64_t layers_per_unit = 1);

std::string DescribeEstimate(const MemoryEstimate& e);
nlohmann::json EstimateToJson(const MemoryEstimate& e);  // every field, in bytes

}  // namespace loom::parallel
