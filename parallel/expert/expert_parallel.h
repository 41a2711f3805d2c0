// Expert parallelism: dropless token dispatch to experts split on dim 0
// across the `ep` group (ARCHITECTURE.md §3-§4).
//
// Rank r of an ep group of size P owns experts [r*E/P, (r+1)*E/P). For the
// tokens of this rank:
//   1. sort the (token, slot) assignments by expert; count per expert
//   2. exchange the per-expert counts (so every rank knows what it receives)
//   3. all-to-all the token rows (uneven) to the experts' owners
//   4. regroup what arrived by local expert and run the local experts
//   5. all-to-all the results back (the inverse exchange) and combine:
//      out[n] = sum_j weight[n, j] * expert_{ids[n, j]}(x[n])
// Autograd flows through every step (the exchanges' backward is the inverse
// exchange). A rank that sends or receives no rows for some or all experts
// still takes part in every collective.
//
// Overlapped mode (chunks > 1): the tokens are split into chunks; chunk
// i+1's dispatch flies while the experts compute chunk i, and each chunk's
// combine flies while the next is computed. Same result (rows are
// independent; combine order per token is unchanged).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/core/Tensor.h>

#include "parallel/comm/communicator.h"

namespace loom::parallel {

// Runs this rank's experts on rows grouped by local expert:
// rows (M, C), counts[e] rows for local expert e in order -> (M, C).
using LocalExpertsFn = std::function<at::Tensor(const at::Tensor& rows, const std::vector<int64_t>& counts)>;

struct ExpertParallelOptions {
  int64_t chunks = 1;  // > 1: overlapped dispatch over this many token chunks
};

// x (N, C); topk_ids (N, k) int64 in [0, num_experts); topk_weights (N, k).
// num_experts must be divisible by ep->size(). Returns (N, C).
at::Tensor ExpertParallelCompute(const at::Tensor& x, const at::Tensor& topk_ids, const at::Tensor& topk_weights,
                                 int64_t num_experts, const comm::CommunicatorPtr& ep,
                                 const LocalExpertsFn& local_experts, const ExpertParallelOptions& options = {});

// "" when `num_experts` can be split over `ep`, else the error with the fix.
std::string ExpertParallelLayoutError(int64_t num_experts, int64_t ep);

}  // namespace loom::parallel
