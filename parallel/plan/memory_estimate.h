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

#include <c10/util/FunctionRef.h>
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

// The longest row length (tokens, before SP slicing) whose estimate fits
// `budget_bytes` per rank with `rows_per_rank` rows per micro-batch; 0 when
// not even one token fits (the sharded state alone exceeds the budget). The
// estimate grows with the length, so this is a search over it (capped at
// 2^40 tokens).
int64_t LongestSeqLenWithin(int64_t budget_bytes, const models::LlmConfig& model, const ParallelState& state,
                            RecomputePolicy recompute, int64_t rows_per_rank, int64_t layers_per_unit = 1);

// The largest length in [1, 2^40] with fits(length), for a `fits` that is
// true up to some length and false after it; 0 when fits(1) is false.
int64_t LongestWithin(c10::function_ref<bool(int64_t)> fits);

// "80GiB", "512MiB", "1.5TB", "1000000" (bytes) -> bytes; anything else is a
// ConfigError naming `key` and the accepted forms.
int64_t ParseByteSize(const std::string& text, const std::string& key);

std::string DescribeEstimate(const MemoryEstimate& e);
nlohmann::json EstimateToJson(const MemoryEstimate& e);  // every field, in bytes

}  // namespace loom::parallel
