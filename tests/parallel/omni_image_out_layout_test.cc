// An omni model with an image decoder (a Qwen3 foundation + image_out:
// Janus's generation embeddings, aligner and head) under a plan per
// component against one process: 20 AdamW steps, fp32, losses within 1e-5
// relative and every parameter within 1e-5 (clipping active on every step,
// asserted; AdamW in its gradient-proportional regime, as omni_layout_test).
//
// Rows hold text and 4-code images (ids V + c); the data gives ranks
// different mixes: on even steps one data rank holds no image code at all
// (its image head runs on no rows; asserted), rows have two images, and under
// SP 2 an image span crosses the slice boundary (asserted). Mis-normalising
// the image-token loss across ranks, dropping it on a rank, or embedding a
// code on the wrong rows moves the parameters far past 1e-5.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "models/omni/omni_model.h"
#include "parallel/fsdp/component_fsdp.h"
#include "parallel/plan/apply_plan.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_step.h"
#include "tests/testing/multi_rank.h"
#include "tests/testing/parity.h"

namespace loom {
namespace {

constexpr int64_t kVocab = 97, kCodes = 37, kStart = 90, kEnd = 91, kLen = 20, kRows = 7, kSteps = 20;

std::shared_ptr<models::OmniModel> Build() {
  nlohmann::json llm = {{"model_type", "qwen3"}, {"vocab_size", kVocab}, {"hidden_size", 40},
                        {"intermediate_size", 56}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
                        {"num_key_value_heads", 2}, {"head_dim", 10}, {"tie_word_embeddings", false},
                        {"initializer_range", 0.1}, {"rope_theta", 10000.0}};
  nlohmann::json image_out = {{"num_embeddings", kCodes}, {"embed_dim", 6},  {"num_patches", 2},
                              {"projection_dim", 40},     {"image_token_embed_dim", 40},
                              {"num_hidden_layers", 2},   {"hidden_act", "gelu"}};
  nlohmann::json j = {{"model_type", "loom_omni"}, {"image_out_start_token_id", kStart},
                      {"image_out_end_token_id", kEnd}, {"components", {{"llm", llm}, {"image_out", image_out}}}};
  auto model = std::make_shared<models::OmniModel>(models::OmniConfigFromJson(j, "tiny image-out omni"));
  model->InitWeights(5);
  return model;
}

// Row r of step s: text, then no image, one image at 3 or 8 (odd rows: its
// span crosses position 9 | 10), or two images; valid length kLen - r % 3
// (the rest padding).
std::vector<int64_t> MakeRow(int step, int r) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(1000 * step + r);
  const auto text = at::randint(0, 80, {kLen}, g);
  const auto codes = at::randint(0, kCodes, {8}, g);
  // Rows 2, 3 and 5 hold no image on even steps: a whole data rank then has
  // none at 3 data ranks (rows 2, 5) and at 4 (row 3).
  const int kind = step % 2 == 0 && (r == 2 || r == 3 || r == 5) ? 0 : 1 + (r + step) % 3;
  std::vector<int64_t> ids(text.data_ptr<int64_t>(), text.data_ptr<int64_t>() + (r % 2 == 1 ? 8 : 3));
  for (int image = 0; image < (kind == 0 ? 0 : kind == 3 ? 2 : 1); ++image) {
    ids.push_back(kStart);
    for (int i = 0; i < 4; ++i) ids.push_back(kVocab + codes[4 * image + i].item<int64_t>());
    ids.push_back(kEnd);
  }
  const int64_t valid = kLen - r % 3;
  ids.resize(std::min<int64_t>(static_cast<int64_t>(ids.size()), valid));
  for (int64_t i = static_cast<int64_t>(ids.size()); i < valid; ++i) ids.push_back(text[i].item<int64_t>());
  return ids;
}

data::PackedBatch BatchOf(int step, const std::vector<int>& rows) {
  const int64_t b = static_cast<int64_t>(rows.size());
  data::PackedBatch batch;
  batch.input_ids = at::zeros({b, kLen}, at::kLong);
  batch.doc_ids = at::full({b, kLen}, -1, at::kLong);
  for (int64_t i = 0; i < b; ++i) {
    const auto ids = MakeRow(step, rows[i]);
    const int64_t n = static_cast<int64_t>(ids.size());
    batch.input_ids[i].slice(0, 0, n).copy_(at::tensor(ids, at::kLong));
    batch.doc_ids[i].slice(0, 0, n).fill_(0);
  }
  testing::SetNextTokenLabels(&batch);
  return batch;
}

std::vector<int> RowsOf(int data_rank, int data_world) { return testing::RowsOfRank(data_rank, data_world, kRows); }

config::TrainConfig Optim() { return testing::GradientProportionalOptimizer(); }

const testing::Trajectory& OneProcess() {
  static testing::Trajectory ref;
  static std::once_flag once;
  std::call_once(once, [] {
    auto model = Build();
    ref = testing::TrainOneProcess(*model, Optim(), kSteps,
                                   [](int s) { return std::vector<data::PackedBatch>{BatchOf(s, RowsOf(0, 1))}; });
  });
  return ref;
}

struct MeshOf {
  int64_t dp_replicate = 1, dp_shard = -1, sp = 1;
};

struct Layout {
  const char* name;
  int world;
  MeshOf image_out, llm;
};
void PrintTo(const Layout& l, std::ostream* os) { *os << l.name; }

parallel::ComponentPlan ComponentOf(const models::TrainableModel& model, const std::string& name, const MeshOf& m) {
  return testing::ComponentPlanOf(model, name, name == "image_out" ? "janus_vq_head" : model.family(), m.dp_replicate,
                                  m.dp_shard, m.sp, 1);
}

class OmniImageOutLayoutTest : public ::testing::TestWithParam<Layout> {};

TEST_P(OmniImageOutLayoutTest, PlanPerComponentMatchesOneProcess) {
  const Layout l = GetParam();
  const auto optim = Optim();
  const auto& ref = OneProcess();
  for (size_t s = 0; s < ref.norms.size(); ++s) {
    ASSERT_GT(ref.norms[s], optim.grad_clip) << "step " << s << ": the clip must be active for this test to mean anything";
  }
  std::mutex mu;
  std::vector<std::vector<double>> losses(l.world);
  std::map<std::string, at::Tensor> params;
  std::atomic<int64_t> crossing{0}, idle_head_steps{0}, code_labels{0};
  testing::RunOnRanks(l.world, [&](const comm::CommunicatorPtr& world) {
    auto model = Build();
    parallel::Plan plan;
    plan.world = l.world;
    plan.components = {ComponentOf(*model, "image_out", l.image_out), ComponentOf(*model, "llm", l.llm)};
    std::vector<parallel::AppliedPlan> applied;
    for (const auto& c : plan.components) applied.push_back(parallel::ApplyPlan(model, plan, c, world));
    parallel::ComponentFsdp fsdp({applied[0].fsdp.get(), applied[1].fsdp.get()});
    const auto& llm = applied[1].groups;
    const int sp_rank = llm.sp->rank(), sp_size = llm.sp->size();
    auto opt = train::BuildAdamW(fsdp.ShardParameters(true), fsdp.ShardParameters(false), optim);
    train::StepOptions so;
    so.grad_clip = optim.grad_clip;
    train::UseFsdp(&so, &fsdp, world);
    so.sequence = {sp_rank, sp_size};
    std::vector<double> mine;
    for (int s = 0; s < kSteps; ++s) {
      const auto whole = BatchOf(s, RowsOf(llm.dp->rank(), llm.dp->size()));
      const auto is_code = whole.input_ids >= kVocab;
      if (sp_size == 2) crossing += is_code.select(1, kLen / 2 - 1).logical_and(is_code.select(1, kLen / 2)).sum().item<int64_t>();
      const auto batch = train::SliceForModel(*model, whole, sp_rank, sp_size);
      const int64_t mine_codes = (batch.labels >= kVocab).sum().item<int64_t>();
      idle_head_steps += mine_codes == 0;
      code_labels += mine_codes;
      mine.push_back(train::TrainStep(*model, *opt, {batch}, so).loss);
    }
    auto state = fsdp.GatherFullState();
    std::lock_guard<std::mutex> lock(mu);
    losses[world->rank()] = mine;
    if (world->rank() == 0) {
      for (auto& [name, t] : state) params[name] = t;
    }
  });
  EXPECT_GT(code_labels.load(), 0);
  EXPECT_GT(idle_head_steps.load(), 0) << "some rank must run a step whose image head has no rows";
  if (l.llm.sp == 2) {
    EXPECT_GT(crossing.load(), 0) << "no image span crosses an SP slice boundary";
  }
  testing::ExpectSameLosses(losses, ref.losses, l.name);
  testing::ExpectSameParams(params, ref.params, l.name);
  ASSERT_TRUE(params.count("image_out.head.vision_head.weight"));
  // The image side learned: its parameters moved (a dropped image loss would leave the head at init).
  auto init = Build();
  for (const auto& p : init->named_parameters()) {
    if (p.key() == "image_out.head.vision_head.weight") {
      EXPECT_GT((params.at(p.key()) - p.value()).abs().max().item<double>(), 1e-2);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, OmniImageOutLayoutTest,
                         ::testing::Values(Layout{"fsdp4", 4, {1, 4}, {1, 4}},
                                           Layout{"image_out_fsdp4_llm_sp2_fsdp2", 4, {1, 4}, {1, 2, 2}},
                                           Layout{"odd_world3", 3, {1, 3}, {1, 3}},
                                           Layout{"world6_llm_sp2_fsdp3", 6, {2, 3}, {1, 3, 2}}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace loom
