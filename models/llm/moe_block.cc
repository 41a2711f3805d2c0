#include "models/llm/moe_block.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace loom::models {

StackedExperts::StackedExperts(int64_t num_experts, int64_t hidden, int64_t intermediate, at::Device device)
    : Module("StackedExperts") {
  gate_proj = register_parameter("gate_proj", NewParameterTensor({num_experts, intermediate, hidden}, device));
  up_proj = register_parameter("up_proj", NewParameterTensor({num_experts, intermediate, hidden}, device));
  down_proj = register_parameter("down_proj", NewParameterTensor({num_experts, hidden, intermediate}, device));
}

SparseMoeBlock::SparseMoeBlock(const LlmConfig& c, int64_t sparse_index, std::shared_ptr<MoeContext> context,
                               at::Device device)
    : FeedForward("SparseMoeBlock"),
      num_experts_(c.num_experts),
      top_k_(c.num_experts_per_tok),
      sparse_index_(sparse_index),
      norm_topk_prob_(c.norm_topk_prob),
      context_(std::move(context)) {
  gate = register_module("gate", std::make_shared<Linear>(c.hidden_size, c.num_experts, false, device));
  experts = register_module("experts",
                            std::make_shared<StackedExperts>(c.num_experts, c.hidden_size, c.moe_intermediate_size, device));
}

SparseMoeBlock::Routing SparseMoeBlock::Route(const at::Tensor& x) {
  Routing r;
  r.probs = at::softmax(gate->forward(x), -1, at::kFloat);  // (N, E) fp32
  auto [weights, ids] = at::topk(r.probs, top_k_, -1);
  if (norm_topk_prob_) weights = weights / weights.sum(-1, /*keepdim=*/true);
  r.topk_ids = ids;
  r.topk_weights = weights.to(x.scalar_type());
  return r;
}

at::Tensor SparseMoeBlock::forward(const at::Tensor& x, const at::Tensor& doc_ids) {
  // The body owns its captures: a recompute wrapper runs it again in backward.
  auto context = context_;
  return CallWithHooks(x, [this, context, doc_ids](const at::Tensor& h) {
    const auto shape = h.sizes().vec();
    auto tokens = h.reshape({-1, shape.back()});  // (N, C)
    const auto routing = Route(tokens);
    ops::ExpertWeights weights{experts->gate_proj, experts->up_proj, experts->down_proj, num_experts_};
    auto out = context->dispatcher->Compute(tokens, routing.topk_ids, routing.topk_weights, weights);  // (N, C)

    // Load-balancing statistics over non-padding tokens.
    auto& stats = context->stats;
    const bool grad = torch::GradMode::is_enabled() && routing.probs.requires_grad() && stats->coef() != 0;
    if (stats->recording() || grad) {
      auto valid = doc_ids.defined() ? (doc_ids.reshape({-1}) >= 0) : at::ones({tokens.size(0)}, h.options().dtype(at::kBool));
      auto prob_sums = (routing.probs * valid.unsqueeze(1).to(at::kFloat)).sum(0);  // (E) fp32
      if (stats->recording()) {
        auto counts = at::bincount(routing.topk_ids.masked_select(valid.unsqueeze(1)), {}, num_experts_);
        stats->Record(sparse_index_, counts, prob_sums, valid.sum().item<int64_t>());
      }
      if (grad) out = AttachAuxLossGradient(out, prob_sums, stats);
    }
    return out.view(shape);
  });
}

}  // namespace loom::models
