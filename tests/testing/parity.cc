#include "tests/testing/parity.h"

#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

namespace loom::testing {

config::TrainConfig ParityOptimizer() {
  config::TrainConfig t;
  t.lr = 3e-3, t.weight_decay = 0.1, t.grad_clip = 0.5;
  return t;
}

config::TrainConfig GradientProportionalOptimizer() {
  auto t = ParityOptimizer();
  t.eps = 0.1, t.lr = 0.3;
  return t;
}

void SetNextTokenLabels(data::PackedBatch* b) {
  b->labels = at::full_like(b->input_ids, data::kIgnoreIndex);
  b->labels.slice(1, 0, -1).copy_(b->input_ids.slice(1, 1));
  const auto valid = b->doc_ids >= 0;
  b->labels.masked_fill_(valid.logical_not(), data::kIgnoreIndex);
  b->labels.slice(1, 0, -1).masked_fill_(valid.slice(1, 1).logical_not(), data::kIgnoreIndex);
}

std::vector<int> RowsOfRank(int data_rank, int data_world, int rows) {
  std::vector<int> out;
  for (int r = data_rank; r < rows; r += data_world) out.push_back(r);
  return out;
}

parallel::ComponentPlan ComponentPlanOf(const models::TrainableModel& model, const std::string& name,
                                        const std::string& family, int64_t dp_replicate, int64_t dp_shard,
                                        int64_t sp, int64_t ep) {
  parallel::ComponentPlan c;
  c.name = c.module_path = name;
  c.family = family;
  c.mesh = {dp_replicate, dp_shard, sp, ep};
  for (const auto& spec : model.component_specs()) {
    if (spec.module_path == name) c.fsdp.unit_pattern = spec.spec.fsdp_unit_pattern;
  }
  return c;
}

Trajectory TrainOneProcess(models::TrainableModel& model, const config::TrainConfig& optim, int steps,
                           const std::function<std::vector<data::PackedBatch>(int step)>& batches) {
  Trajectory r;
  auto opt = train::BuildAdamW(model.parameters(), optim);
  train::StepOptions so;
  so.grad_clip = optim.grad_clip;
  for (int s = 0; s < steps; ++s) {
    const auto st = train::TrainStep(model, *opt, batches(s), so);
    r.losses.push_back(st.loss), r.norms.push_back(st.grad_norm);
  }
  for (const auto& p : model.named_parameters()) r.params[p.key()] = p.value().detach().clone();
  return r;
}

data::PackedBatch DataRows(const data::PackedBatch& b, int rank, int data_world) {
  auto idx = at::arange(rank, b.rows(), data_world);
  return {b.input_ids.index_select(0, idx), b.labels.index_select(0, idx), b.position_ids.index_select(0, idx),
          b.doc_ids.index_select(0, idx)};
}

void ExpectSameLosses(const std::vector<std::vector<double>>& rank_losses, const std::vector<double>& reference,
                      const std::string& what, double rel) {
  ASSERT_FALSE(reference.empty());
  EXPECT_LT(reference.back(), reference.front()) << "the reference must learn";
  for (size_t r = 0; r < rank_losses.size(); ++r) {
    ASSERT_EQ(rank_losses[r].size(), reference.size()) << what << " rank " << r;
    for (size_t s = 0; s < reference.size(); ++s) {
      EXPECT_LE(std::abs(rank_losses[r][s] - reference[s]) / reference[s], rel)
          << what << " rank " << r << " step " << s << ": " << rank_losses[r][s] << " vs " << reference[s];
    }
  }
}

void ExpectSameParams(const std::map<std::string, at::Tensor>& params, const std::map<std::string, at::Tensor>& reference,
                      const std::string& what, double tol) {
  ASSERT_EQ(params.size(), reference.size()) << what;
  for (const auto& [name, t] : params) {
    const auto it = reference.find(name);
    ASSERT_NE(it, reference.end()) << what << ": unexpected parameter " << name;
    const auto& want = it->second;
    ASSERT_EQ(t.sizes(), want.sizes()) << what << " " << name;
    EXPECT_LE((t - want).abs().max().item<double>(), tol * std::max(1.0, want.abs().max().item<double>()))
        << what << " " << name;
  }
}

}  // namespace loom::testing
