#include "ops/loss/chunked_cross_entropy.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/base/error.h"

namespace loom::ops {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Logits of one chunk in fp32: (n, V).
at::Tensor ChunkLogits(const at::Tensor& h, const at::Tensor& w) {
  return at::matmul(h, w.to(h.scalar_type()).t()).to(at::kFloat);
}

struct ChunkedCrossEntropyFn : torch::autograd::Function<ChunkedCrossEntropyFn> {
  // group_sums: a (G) tensor the token losses are summed into per `groups`
  // (empty: none; autograd wants defined inputs). A constant to autograd.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                            const at::Tensor& labels, int64_t chunk, const at::Tensor& groups, at::Tensor group_sums) {
    const int64_t n = hidden.size(0);
    auto lse = at::empty({n}, hidden.options().dtype(at::kFloat));
    auto total = at::zeros({}, hidden.options().dtype(at::kFloat));
    at::Tensor kept_probs;  // one chunk only: its softmax, kept for backward instead of recomputing the logits
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t end = std::min(n, start + chunk);
      auto logits = ChunkLogits(hidden.slice(0, start, end), weight);
      auto y = labels.slice(0, start, end);
      auto valid = y != kIgnoreLabel;
      auto chunk_lse = at::logsumexp(logits, -1);
      lse.slice(0, start, end).copy_(chunk_lse);
      auto target = logits.gather(1, y.clamp_min(0).unsqueeze(1)).squeeze(1);
      auto token = (chunk_lse - target) * valid;  // (n)
      total += token.sum();
      if (group_sums.numel() > 0) group_sums.index_add_(0, groups.slice(0, start, end).clamp_min(0), token.detach());
      if (end - start == n) kept_probs = logits.sub_(chunk_lse.unsqueeze(1)).exp_();  // (n, V); logits are dead now
    }
    ctx->save_for_backward({hidden, weight, labels, lse, kept_probs});
    ctx->saved_data["chunk"] = chunk;
    return total;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const auto& hidden = saved[0];
    const auto& weight = saved[1];
    const auto& labels = saved[2];
    const auto& lse = saved[3];
    const auto& kept_probs = saved[4];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const auto grad_out = grads[0].to(at::kFloat);
    const int64_t n = hidden.size(0);
    auto grad_hidden = at::empty_like(hidden);
    auto grad_weight = at::zeros(weight.sizes(), weight.options().dtype(at::kFloat));
    for (int64_t start = 0; start < n; start += chunk) {
      const int64_t end = std::min(n, start + chunk);
      auto h = hidden.slice(0, start, end);
      auto y = labels.slice(0, start, end);
      const auto scale = (y != kIgnoreLabel).to(at::kFloat).unsqueeze(1) * grad_out;  // (n, 1): 0 on ignored rows
      // d loss / d logits = (softmax - onehot(label)) * scale.
      auto p = kept_probs.defined() ? kept_probs * scale
                                    : at::exp(ChunkLogits(h, weight) - lse.slice(0, start, end).unsqueeze(1)).mul_(scale);
      p.scatter_add_(1, y.clamp_min(0).unsqueeze(1), -scale);
      grad_hidden.slice(0, start, end).copy_(at::matmul(p.to(h.scalar_type()), weight.to(h.scalar_type())));
      grad_weight += at::matmul(p.t(), h.to(at::kFloat));
    }
    return {grad_hidden, grad_weight.to(weight.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor ChunkedCrossEntropySum(const at::Tensor& hidden, const at::Tensor& weight,
                                  const at::Tensor& labels, int64_t chunk_size, const at::Tensor& groups,
                                  at::Tensor* group_sums) {
  if (hidden.dim() != 2 || weight.dim() != 2 || labels.dim() != 1 ||
      hidden.size(0) != labels.size(0) || hidden.size(1) != weight.size(1)) {
    throw ConfigError("ChunkedCrossEntropySum: expected hidden (N, C), weight (V, C), labels (N)");
  }
  if (chunk_size < 1) throw ConfigError(ErrorWithFix("loss chunk size must be >= 1", "set train.loss_chunk_size"));
  const auto opts = hidden.options().dtype(at::kFloat);
  at::Tensor sums = at::empty({0}, opts), ids = at::empty({0}, labels.options());
  if (group_sums) {
    if (!groups.defined() || groups.dim() != 1 || groups.size(0) != labels.size(0) || !group_sums->defined()) {
      throw ConfigError("ChunkedCrossEntropySum: per-group sums need groups (N) and a (G) output tensor");
    }
    sums = at::zeros({group_sums->size(0)}, opts);
    ids = groups.to(at::kLong);
  }
  // Only labelled rows reach the head: prompts, media placeholders and padding
  // (most of a chat batch) cost no logits. index_select routes the gradient back.
  const auto keep = (labels != kIgnoreLabel).nonzero().squeeze(1);
  at::Tensor loss;
  if (keep.size(0) == labels.size(0)) {
    loss = ChunkedCrossEntropyFn::apply(hidden, weight, labels, chunk_size, ids, sums);
  } else {
    loss = ChunkedCrossEntropyFn::apply(hidden.index_select(0, keep), weight, labels.index_select(0, keep), chunk_size,
                                        ids.numel() ? ids.index_select(0, keep) : ids, sums);
  }
  if (group_sums) *group_sums = sums;
  return loss;
}

}  // namespace loom::ops
