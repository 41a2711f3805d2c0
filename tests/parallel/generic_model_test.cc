// Executors on a model they were never written for: a stack of token-wise
// MLP blocks ("token_mlp", registered here with its own PlanSpec) gets
// FSDP, HSDP, full and selective recompute and SP activation slicing from its
// spec alone, and matches one process over 8 AdamW steps (fp32, 1e-5).
//
// Shapes are chosen so no unit's element count divides the group (3 and 6
// ranks, uneven data rows too), and each block has a side branch only
// tokens < 8 take: ranks whose rows hold none give it no gradient, which
// FSDP must flush (else the job hangs). Clipping is always active (the
// reference norm exceeds the clip on every step, asserted), padding is
// checked to stay zero in shards, gradients and never reach the export, and
// ~FsdpModel must remove exactly its own hooks.
#include <gtest/gtest.h>

#include <mutex>

#include <ATen/ATen.h>
#include <torch/nn/modules/container/modulelist.h>

#include "models/core/layers.h"
#include "models/core/registry.h"
#include "models/core/safetensors.h"
#include "models/core/trainable_model.h"
#include "ops/loss/chunked_cross_entropy.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "parallel/recompute/recompute.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_step.h"
#include "tests/testing/multi_rank.h"
#include "tests/testing/parity.h"

namespace loom {
namespace {

constexpr int64_t kVocab = 23, kWidth = 11, kHidden = 13, kBlocks = 3, kRows = 7, kLen = 12, kSteps = 8;
constexpr double kClip = 0.05;

// up -> silu -> down: the selective-recompute unit.
class TokenMlp : public models::Module {
 public:
  TokenMlp() : Module("TokenMlp") {
    up = register_module("up", std::make_shared<models::Linear>(kWidth, kHidden, true, at::kCPU));
    down = register_module("down", std::make_shared<models::Linear>(kHidden, kWidth, true, at::kCPU));
  }
  at::Tensor forward(const at::Tensor& x) {
    return CallWithHooks(x, [this](const at::Tensor& h) { return down->forward(at::silu(up->forward(h))); });
  }
  std::shared_ptr<models::Linear> up, down;
};

// x + gain * mlp(x), plus side(x) on tokens < 8 only (skipped when none).
class Block : public models::Module {
 public:
  Block() : Module("Block") {
    mlp = register_module("mlp", std::make_shared<TokenMlp>());
    side = register_module("side", std::make_shared<models::Linear>(kWidth, kWidth, false, at::kCPU));
    gain = register_parameter("gain", models::NewParameterTensor({kWidth}, at::kCPU));
  }
  // x (N, C), ids (N)
  at::Tensor forward(const at::Tensor& x, const at::Tensor& ids) {
    return CallWithHooks(x, [this, ids](const at::Tensor& h) {
      auto y = h + gain * mlp->forward(h);
      const auto rows = (ids < 8).nonzero().squeeze(1);
      if (rows.numel() > 0) y = y.index_add(0, rows, side->forward(h.index_select(0, rows)));
      return y;
    });
  }
  std::shared_ptr<TokenMlp> mlp;
  std::shared_ptr<models::Linear> side;
  at::Tensor gain;
};

class TokenMlpStack : public models::TrainableModel {
 public:
  TokenMlpStack() : TrainableModel("TokenMlpStack") {
    embed = register_module("embed", std::make_shared<models::Embedding>(kVocab, kWidth, at::kCPU));
    auto list = torch::nn::ModuleList();
    for (int64_t i = 0; i < kBlocks; ++i) {
      blocks.push_back(std::make_shared<Block>());
      list->push_back(blocks.back());
    }
    register_module("blocks", list);
    head = register_module("head", std::make_shared<models::Linear>(kWidth, kVocab, false, at::kCPU));
  }
  static models::PlanSpec Spec() {
    models::PlanSpec s;
    s.fsdp_unit_pattern = "blocks.*";
    s.root_params = {"embed.weight", "head.weight"};
    s.selective_recompute_pattern = "blocks.*.mlp";
    return s;  // no attention (SP slices activations only), no experts
  }
  models::PlanSpec plan_spec() const override { return Spec(); }
  std::string family() const override { return "token_mlp"; }
  at::Tensor LossSum(const models::ModelInputs& in, const at::Tensor& labels, int64_t chunk) override {
    const auto ids = in.input_ids.reshape({-1});
    auto h = CallWithHooks(ids, [this, ids](const at::Tensor&) {
      auto x = embed->forward(ids);
      for (auto& b : blocks) x = b->forward(x, ids);
      return x;
    });
    return ops::ChunkedCrossEntropySum(h, head->weight, labels.reshape({-1}), chunk);
  }
  void SaveExport(std::vector<std::pair<std::string, at::Tensor>> state, const std::string& dir) const override {
    models::SaveSafetensorsDir(dir, state);
  }
  void Init(uint64_t seed) {
    auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
    torch::NoGradGuard no_grad;
    for (auto& p : parameters()) p.copy_(at::randn(p.sizes(), g) * 0.3);
  }
  std::shared_ptr<models::Embedding> embed;
  std::vector<std::shared_ptr<Block>> blocks;
  std::shared_ptr<models::Linear> head;
};

// Registered like any family: the executors below never name its type.
const bool kRegistered = [] {
  models::RegisterFamily({"token_mlp", "test: token-wise MLP stack", TokenMlpStack::Spec(),
                          [](const nlohmann::json&, const std::string&, at::Device) {
                            auto m = std::make_shared<TokenMlpStack>();
                            m->Init(7);
                            return std::static_pointer_cast<models::TrainableModel>(m);
                          }});
  return true;
}();

std::shared_ptr<models::TrainableModel> Build() { return models::FindFamily("token_mlp").build({}, "test", at::kCPU); }

// Step s's global batch. Rows r % 3 == 0 hold tokens of the whole vocab;
// the others only tokens >= 8 (no side branch). Labels: 2 * token + 1 mod V.
data::PackedBatch GlobalBatch(int step) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(900 + step);
  data::PackedBatch b;
  b.input_ids = at::randint(8, kVocab, {kRows, kLen}, g);
  for (int64_t r = 0; r < kRows; r += 3) b.input_ids[r].copy_(at::randint(kVocab, {kLen}, g));
  b.labels = (b.input_ids * 2 + 1) % kVocab;
  b.labels.select(1, kLen - 1).fill_(data::kIgnoreIndex);
  b.position_ids = at::arange(kLen).expand({kRows, kLen}).contiguous();
  b.doc_ids = at::zeros_like(b.input_ids);
  return b;
}

config::TrainConfig Optim() {
  config::TrainConfig t;
  t.lr = 1e-2, t.weight_decay = 0.1, t.grad_clip = kClip;
  return t;
}

using Reference = testing::Trajectory;

const Reference& OneProcess() {
  static const Reference ref = [] {
    auto model = Build();
    return testing::TrainOneProcess(*model, Optim(), kSteps,
                                    [](int s) { return std::vector<data::PackedBatch>{GlobalBatch(s)}; });
  }();
  return ref;
}

struct Layout {
  const char* name;
  int world, dp_replicate, sp;
  parallel::RecomputePolicy recompute = parallel::RecomputePolicy::kNone;
  int blocks_per_unit = 1;
};
void PrintTo(const Layout& l, std::ostream* os) { *os << l.name; }

class GenericModelTest : public ::testing::TestWithParam<Layout> {};

TEST_P(GenericModelTest, ExecutorsFromTheSpecAloneMatchOneProcess) {
  const Layout l = GetParam();
  const Reference& ref = OneProcess();
  for (size_t s = 0; s < ref.norms.size(); ++s) {
    ASSERT_GT(ref.norms[s], kClip) << "step " << s << ": the clip must be active for this test to mean anything";
  }
  const auto state = parallel::ParallelState::Create(l.world, {l.dp_replicate, -1, l.sp, 1});
  std::mutex mu;
  std::vector<std::vector<double>> losses(l.world), norms(l.world);
  testing::RunOnRanks(l.world, [&](const comm::CommunicatorPtr& world) {
    auto groups = parallel::BuildProcessGroups(state, world);
    auto model = Build();
    const int wrapped = parallel::ApplyRecompute(*model, l.recompute);
    EXPECT_EQ(wrapped, l.recompute == parallel::RecomputePolicy::kNone ? 0 : kBlocks);
    parallel::FsdpOptions fo;
    fo.layers_per_unit = l.blocks_per_unit;
    parallel::FsdpModel fsdp(model, groups, fo);
    bool uneven = false;
    for (const auto& u : fsdp.Units()) uneven |= u.numel % u.group_size != 0;
    EXPECT_TRUE(uneven) << "no unit's element count leaves an uneven shard";
    auto opt = train::BuildAdamW(fsdp.ShardParameters(true), fsdp.ShardParameters(false), Optim());
    train::StepOptions so;
    so.grad_clip = kClip;
    train::UseFsdp(&so, &fsdp, groups.world);
    for (int s = 0; s < kSteps; ++s) {
      auto mine = testing::DataRows(GlobalBatch(s), groups.dp->rank(), groups.dp->size());
      if (l.sp == 1 && l.world == 3 && world->rank() == 1) {
        ASSERT_EQ((mine.input_ids < 8).sum().item<int64_t>(), 0) << "rank 1 must give the side branch no gradient";
      }
      const auto st = train::TrainStep(*model, *opt, {train::SliceSequence(mine, groups.sp->rank(), groups.sp->size())}, so);
      std::lock_guard<std::mutex> lock(mu);
      losses[world->rank()].push_back(st.loss), norms[world->rank()].push_back(st.grad_norm);
    }
    // Padding: zero in every shard and its gradient, absent from the export.
    for (const auto& u : fsdp.Units()) {
      const int64_t s = u.shard.numel(), real = std::clamp<int64_t>(u.numel - u.group_rank * s, 0, s);
      EXPECT_EQ(u.padded % u.group_size, 0);
      if (real < s) {
        EXPECT_EQ(u.shard.slice(0, real).abs().max().item<float>(), 0.f) << u.name << " padding changed";
        EXPECT_EQ(u.shard.grad().slice(0, real).abs().max().item<float>(), 0.f) << u.name << " padding got a gradient";
      }
    }
    const auto full = fsdp.GatherFullState();
    ASSERT_EQ(full.size(), ref.params.size());
    for (const auto& [name, t] : full) {
      ASSERT_TRUE(t.sizes().equals(ref.params.at(name).sizes())) << name;
      const double diff = (t - ref.params.at(name)).abs().max().item<double>();
      EXPECT_LE(diff, 1e-5) << l.name << " " << name;
    }
  });
  testing::ExpectSameLosses(losses, ref.losses, l.name);
  for (int r = 0; r < l.world; ++r) {
    for (int s = 0; s < kSteps; ++s) {
      EXPECT_NEAR(norms[r][s], ref.norms[s], 1e-4 * ref.norms[s]) << l.name << " rank " << r << " step " << s;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Layouts, GenericModelTest,
    ::testing::Values(Layout{"fsdp3", 3, 1, 1}, Layout{"hsdp2x3", 6, 2, 1},
                      Layout{"fsdp3_full_recompute", 3, 1, 1, parallel::RecomputePolicy::kFull},
                      Layout{"fsdp2_selective_recompute", 2, 1, 1, parallel::RecomputePolicy::kSelective},
                      Layout{"sp2", 2, 1, 2}, Layout{"fsdp3_two_blocks_per_unit", 3, 1, 1, parallel::RecomputePolicy::kNone, 2},
                      Layout{"sp3_hsdp2_full_recompute", 6, 2, 3, parallel::RecomputePolicy::kFull}),
    [](const auto& info) { return std::string(info.param.name); });

// ~FsdpModel takes off exactly its hooks: the recompute wrappers stay, and
// with two blocks per unit (pre-hook on the first, post-hook on the last) no
// hook is left behind.
TEST(GenericModelTest, FsdpRemovesExactlyItsHooks) {
  const auto state = parallel::ParallelState::Create(2, {1, -1, 1, 1});
  testing::RunOnRanks(2, [&](const comm::CommunicatorPtr& world) {
    auto groups = parallel::BuildProcessGroups(state, world);
    auto model = std::static_pointer_cast<TokenMlpStack>(Build());
    parallel::ApplyRecompute(*model, parallel::RecomputePolicy::kFull);
    const auto hooks = [&] {
      size_t n = model->num_pre_hooks() + model->num_post_hooks();
      for (auto& b : model->blocks) n += b->num_pre_hooks() + b->num_post_hooks();
      return n;
    };
    {
      parallel::FsdpOptions fo;
      fo.layers_per_unit = 2;
      parallel::FsdpModel fsdp(model, groups, fo);
      EXPECT_EQ(hooks(), 1u + 2u * 2u) << "root pre-hook + two blocks' pre- and post-hooks";
      EXPECT_EQ(model->blocks[1]->num_post_hooks(), 1u) << "the last block of the first unit frees it";
    }
    EXPECT_EQ(hooks(), 0u);
    for (auto& b : model->blocks) EXPECT_TRUE(b->has_wrapper()) << "FSDP must not remove recompute";
  });
}

}  // namespace
}  // namespace loom
