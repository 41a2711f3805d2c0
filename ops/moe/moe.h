// Mixture-of-experts building blocks: no communication, no parameters.
//
//   PermuteByExpert   sorts the N*k (token, slot) assignments by expert id
//                     (stable), giving per-expert row counts
//   PermuteTokens     gathers token rows into that expert-sorted order
//   UnpermuteTokens   scatters expert output rows back, weighted, summed per token
//   GroupedLinear     one matmul per expert over its contiguous block of rows
//   SwigluExperts     down(silu(gate(x)) * up(x)) per expert over sorted rows
//
// Legend: N tokens, k experts per token (top-k), E experts, C hidden,
// I expert intermediate width, M = N*k permuted rows.
// Expert weights are stacked with dim 0 = expert index, in nn.Linear layout
// (out, in): gate/up (E, I, C), down (E, C, I). Dropless: every assignment
// is computed; an expert with zero rows still takes part in the graph (its
// gradient is a zero block of the stacked tensor's gradient).
#pragma once

#include <vector>

#include <ATen/core/Tensor.h>

namespace loom::ops {

// The expert-sorted order of a batch's assignments.
struct ExpertPermutation {
  at::Tensor order;         // (M) int64: flat slot index (token * k + slot) of each sorted row
  at::Tensor token_of_row;  // (M) int64: source token of each sorted row (= order / k)
  at::Tensor counts;        // (E) int64: rows per expert, sum = M (on topk_ids' device)
  std::vector<int64_t> counts_host;  // the same counts, read once on the host
};

// topk_ids (N, k) int64 in [0, num_experts) -> the stable sort by expert.
ExpertPermutation PermuteByExpert(const at::Tensor& topk_ids, int64_t num_experts);

// x (N, C) -> (M, C): row r is x[token_of_row[r]].
at::Tensor PermuteTokens(const at::Tensor& x, const ExpertPermutation& perm);

// rows (M, C), topk_weights (N, k) -> (N, C): out[t] = sum over t's slots s of
// weight[t, s] * rows[row of (t, s)]. Differentiable in rows and weights.
at::Tensor UnpermuteTokens(const at::Tensor& rows, const at::Tensor& topk_weights,
                           const ExpertPermutation& perm, int64_t num_tokens);

// x (M, in) with rows grouped by expert (counts (G) on the host, sum = M),
// w (G, out, in) -> (M, out): rows of group g times w[g]^T. Uses
// at::_grouped_mm where it applies (CPU fp32/bf16, CUDA bf16; row strides a
// multiple of 16 bytes), otherwise one matmul per group over its slice (an
// expert with no rows still joins the graph through its empty slice). `allow_grouped_mm` = false forces the per-group loop (tests).
at::Tensor GroupedLinear(const at::Tensor& x, const at::Tensor& w, const std::vector<int64_t>& counts,
                         bool allow_grouped_mm = true);

// SwiGLU experts over expert-sorted rows: x (M, C) -> (M, C) with
// gate/up (G, I, C), down (G, C, I), counts (G) on the host.
at::Tensor SwigluExperts(const at::Tensor& x, const at::Tensor& gate_proj, const at::Tensor& up_proj,
                         const at::Tensor& down_proj, const std::vector<int64_t>& counts,
                         bool allow_grouped_mm = true);

}  // namespace loom::ops
