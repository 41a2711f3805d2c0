// The feed-forward half of a decoder block, and its sparse variant: the
// Qwen3-MoE mixture-of-experts block (Hugging Face Qwen3MoeSparseMoeBlock).
//
//   router   gate: Linear(C -> E, no bias); softmax in fp32; top-k;
//            optional renormalisation of the k probabilities (norm_topk_prob);
//            combine weights cast back to the compute dtype (as HF)
//   experts  E SwiGLU MLPs of width I, stored STACKED (dim 0 = expert):
//            experts.gate_proj (E, I, C), experts.up_proj (E, I, C),
//            experts.down_proj (E, C, I) - not fused; HF's per-expert
//            tensors map onto them in models/llm/moe_state_adapter.h
//   compute  through the model's ops::ExpertDispatcher (local by default; a
//            parallel plan may install an expert-parallel one), dropless
//   aux      while the model records (see RouterStats), reports the layer's
//            per-expert counts and probability sums over non-padding tokens,
//            and passes the sums through AttachAuxLossGradient on its output
//
// Legend: B rows, T positions, N = B*T tokens, C hidden, E experts, k top-k.
#pragma once

#include <memory>

#include <c10/core/Device.h>

#include "models/core/layers.h"
#include "models/core/module.h"
#include "models/llm/llm_config.h"
#include "models/llm/router_stats.h"
#include "ops/moe/expert_dispatcher.h"

namespace loom::models {

// A block's feed-forward: x (B, T, C) -> (B, T, C). doc_ids (B, T) marks
// padding with -1 (undefined = no padding); only MoE routing statistics use it.
class FeedForward : public Module {
 public:
  using Module::Module;
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& doc_ids) = 0;
};

// What every sparse block of one model shares; owned by the DecoderLM.
struct MoeContext {
  std::shared_ptr<ops::ExpertDispatcher> dispatcher;
  c10::intrusive_ptr<RouterStats> stats;
};

// The stacked expert parameters (a submodule so HF-like names read
// "mlp.experts.gate_proj").
class StackedExperts : public Module {
 public:
  StackedExperts(int64_t num_experts, int64_t hidden, int64_t intermediate, at::Device device);
  at::Tensor gate_proj, up_proj, down_proj;
};

class SparseMoeBlock : public FeedForward {
 public:
  // `sparse_index`: this block's position among the model's sparse layers.
  SparseMoeBlock(const LlmConfig& c, int64_t sparse_index, std::shared_ptr<MoeContext> context, at::Device device);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& doc_ids) override;

  // Routing of x (N, C): probabilities (N, E) fp32, top-k ids (N, k) int64
  // and combine weights (N, k) in x's dtype.
  struct Routing {
    at::Tensor probs, topk_ids, topk_weights;
  };
  Routing Route(const at::Tensor& x);

  std::shared_ptr<Linear> gate;
  std::shared_ptr<StackedExperts> experts;

 private:
  int64_t num_experts_, top_k_, sparse_index_;
  bool norm_topk_prob_;
  std::shared_ptr<MoeContext> context_;
};

}  // namespace loom::models
