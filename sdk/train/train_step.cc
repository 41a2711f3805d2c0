#include "sdk/train/train_step.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <torch/nn/utils/clip_grad.h>

#include "ops/base/error.h"
#include "ops/base/sequence_shard.h"
#include "parallel/expert/expert_dispatcher.h"

namespace loom::train {
namespace {

// Enables bf16 autocast on `device`'s type (CPU or CUDA) for its lifetime.
class AutocastGuard {
 public:
  AutocastGuard(bool enabled, at::DeviceType device) : enabled_(enabled), device_(device) {
    if (!enabled_) return;
    prev_enabled_ = at::autocast::is_autocast_enabled(device_);
    prev_dtype_ = at::autocast::get_autocast_dtype(device_);
    at::autocast::set_autocast_enabled(device_, true);
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
  }
  ~AutocastGuard() {
    if (!enabled_) return;
    at::autocast::set_autocast_enabled(device_, prev_enabled_);
    at::autocast::set_autocast_dtype(device_, prev_dtype_);
    at::autocast::clear_cache();
  }

 private:
  bool enabled_;
  at::DeviceType device_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

void SumOverDataRanks(const StepOptions& o, std::vector<double>& values) {
  if (o.sum_over_data_ranks) o.sum_over_data_ranks(values);
}

double SumOverDataRanks(const StepOptions& o, double v) {
  std::vector<double> values{v};
  SumOverDataRanks(o, values);
  return values[0];
}

// Non-padding positions this rank computes: under SP a model that slices
// itself is given whole rows, of which it computes one shard.
int64_t TokensOnThisRank(const data::PackedBatch& b, models::SequenceShard sequence) {
  if (!b.doc_ids.defined()) return b.input_ids.numel() / sequence.size;
  const auto docs = sequence.size > 1 ? ops::ShardSequence(b.doc_ids, 1, sequence.rank, sequence.size, -1) : b.doc_ids;
  return (docs >= 0).sum().item<int64_t>();
}

}  // namespace

models::ModelInputs InputsOf(const data::PackedBatch& b, models::SequenceShard sequence) {
  models::ModelInputs in{b.input_ids, b.position_ids, b.doc_ids, b.media, sequence};
  in.segments = b.segments;
  if (b.loss_groups.defined()) {
    in.loss_groups = b.loss_groups;
    in.n_loss_groups = data::kLossGroups;
  }
  return in;
}

// The step hooks of a sharded model: FsdpModel or ComponentFsdp (same methods).
template <typename Sharded>
void UseSharded(StepOptions* options, Sharded* fsdp, const comm::CommunicatorPtr& tokens) {
  options->sum_over_data_ranks = [tokens](std::vector<double>& values) {
    auto t = at::tensor(values, at::kDouble).to(tokens->device());  // one collective for the lot
    tokens->AllReduce(t)->Wait();
    t = t.cpu();
    std::copy_n(t.data_ptr<double>(), values.size(), values.begin());
  };
  options->finish_gradients = [fsdp] { fsdp->FinishGradients(); };
  options->clip_grad_norm = [fsdp](double max_norm) { return fsdp->ClipGradNorm(max_norm); };
  options->reduce_router_stats = [tokens](models::RouterStats* stats) { parallel::SumRouterStatsOver(stats, tokens); };
}

void UseFsdp(StepOptions* options, parallel::FsdpModel* fsdp, const comm::CommunicatorPtr& tokens) {
  UseSharded(options, fsdp, tokens);
}

void UseFsdp(StepOptions* options, parallel::ComponentFsdp* fsdp, const comm::CommunicatorPtr& tokens) {
  UseSharded(options, fsdp, tokens);
}

int64_t CountLabelTokens(const std::vector<data::PackedBatch>& micro) {
  int64_t n = 0;
  for (const auto& b : micro) n += (b.labels != data::kIgnoreIndex).sum().item<int64_t>();
  return n;
}

StepStats TrainStep(models::TrainableModel& model, torch::optim::Optimizer& optimizer,
                    const std::vector<data::PackedBatch>& micro, const StepOptions& o) {
  const auto sum = [&o](double v) { return SumOverDataRanks(o, v); };
  StepStats stats;
  stats.label_tokens = o.global_label_tokens >= 0
                           ? o.global_label_tokens
                           : static_cast<int64_t>(sum(static_cast<double>(CountLabelTokens(micro))));
  if (stats.label_tokens == 0) {
    throw ConfigError(ErrorWithFix("a training step has no label tokens",
                                   "use longer documents or a larger data.seq_len"));
  }
  optimizer.zero_grad();
  double loss_sum = 0;
  double aux_weighted = 0;  // mean over micro-batches of coef x aux (already global)
  std::vector<double> group_sum, group_count;  // per loss group: this rank's token-loss sums and label counts
  auto* router = model.router_stats();
  if (router) router->set_grad_scale(1.0 / static_cast<double>(micro.size()));
  for (const auto& b : micro) {
    at::Tensor loss;
    {
      AutocastGuard autocast(o.bf16, o.device.type());
      loss = model.LossSum(InputsOf(b, o.sequence), b.labels, o.loss_chunk_size);
    }
    // The loss boundary: global router statistics before this backward reads them.
    if (router && o.reduce_router_stats) o.reduce_router_stats(router);
    (loss / static_cast<double>(stats.label_tokens)).backward();
    loss_sum += loss.item<double>();
    if (b.loss_groups.defined()) {
      const auto sums = model.LastLossByGroup().to(at::kCPU, at::kDouble).contiguous();
      const auto groups = b.loss_groups.cpu();
      const auto labelled = (b.labels.cpu() != data::kIgnoreIndex) & (groups >= 0);
      const auto counts = at::zeros({data::kLossGroups}, at::kLong)
                              .index_add_(0, groups.masked_select(labelled), at::ones({labelled.sum().item<int64_t>()}, at::kLong));
      group_sum.resize(data::kLossGroups, 0.0);
      group_count.resize(data::kLossGroups, 0.0);
      const double* sum_of = sums.data_ptr<double>();  // host tensors: read in place, no per-element .item()
      const int64_t* count_of = counts.data_ptr<int64_t>();
      for (int g = 0; g < data::kLossGroups; ++g) {
        group_sum[g] += sum_of[g];
        group_count[g] += static_cast<double>(count_of[g]);
      }
    }
    if (router && router->has_aux()) {
      aux_weighted += model.AuxLoss() / static_cast<double>(micro.size());
      stats.aux_loss += router->aux_loss() / static_cast<double>(micro.size());
      const auto counts = router->totals().counts.to(at::kLong).contiguous();  // (L, E), already summed over ranks by its reduce hook
      stats.expert_tokens.resize(counts.size(0), std::vector<int64_t>(counts.size(1), 0));
      const int64_t* count_of = counts.data_ptr<int64_t>();
      for (int64_t l = 0; l < counts.size(0); ++l) {
        for (int64_t e = 0; e < counts.size(1); ++e) stats.expert_tokens[l][e] += count_of[l * counts.size(1) + e];
      }
    }
    stats.tokens += TokensOnThisRank(b, o.sequence);
  }
  if (router) router->set_grad_scale(1.0);
  // One collective: [loss sum, each group's loss sum, each group's label count].
  std::vector<double> totals{loss_sum};
  totals.insert(totals.end(), group_sum.begin(), group_sum.end());
  totals.insert(totals.end(), group_count.begin(), group_count.end());
  SumOverDataRanks(o, totals);
  const size_t groups = group_sum.size();
  const double text = totals[0] / static_cast<double>(stats.label_tokens);
  stats.loss = text + aux_weighted;
  stats.loss_terms = {{"text", text}};
  if (router && router->has_aux()) stats.loss_terms.emplace_back("router_aux", aux_weighted);
  // Every rank reads the same groups list (the loader always sets loss_groups
  // for conversations), so the sums below pair up across ranks.
  for (size_t g = 0; g < groups; ++g) {
    const double n = totals[1 + groups + g];
    if (n > 0) stats.loss_by_group.push_back({data::LossGroupName(static_cast<int>(g)), totals[1 + g] / n, static_cast<int64_t>(n)});
  }
  if (o.finish_gradients) o.finish_gradients();
  if (o.clip_grad_norm) {
    stats.grad_norm = o.clip_grad_norm(o.grad_clip);
  } else {
    const double max_norm = o.grad_clip > 0 ? o.grad_clip : std::numeric_limits<double>::infinity();
    stats.grad_norm = torch::nn::utils::clip_grad_norm_(model.parameters(), max_norm);
  }
  optimizer.step();
  return stats;
}

double EvalLoss(models::TrainableModel& model, const std::vector<data::PackedBatch>& batches,
                const StepOptions& o) {
  torch::NoGradGuard no_grad;
  AutocastGuard autocast(o.bf16, o.device.type());
  double local = 0;
  for (const auto& b : batches) {
    local += model.LossSum(InputsOf(b, o.sequence), b.labels, o.loss_chunk_size).item<double>();
  }
  std::vector<double> totals{static_cast<double>(CountLabelTokens(batches)), local};
  SumOverDataRanks(o, totals);
  return totals[0] > 0 ? totals[1] / totals[0] : 0.0;
}

}  // namespace loom::train
