// Qwen3-MoE under expert parallelism (with FSDP, SP, overlapped dispatch)
// against one process: fp32, CPU, same seed and tokens per step, 20 AdamW
// steps with clipping, the load-balancing aux loss on (coef 0.02). Per-step
// loss (cross-entropy + coef x aux) within 1e-5 relative, final parameters
// within 1e-5 (experts gathered from their EP and expert-FSDP shards; 4e-5
// for the idle layouts, see ParamTolerance).
//
// The idle_rank layouts route no token to experts 4..7 (see
// RouteAwayFromUpperExperts; 12 rows a step): under EP 2 every rank of EP rank 1 receives
// zero rows for its real SwigluExperts, in every step, and its expert-FSDP
// reduce-scatters must still line up with everyone else's (6 ranks: expert
// shards over 3 ranks, uneven).
#include <gtest/gtest.h>

#include <map>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "models/core/plan_spec.h"
#include "models/llm/decoder_lm.h"
#include "parallel/expert/expert_dispatcher.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "parallel/ulysses/ulysses_attention.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_step.h"
#include "tests/testing/multi_rank.h"
#include "tests/testing/parity.h"

namespace loom {
namespace {

constexpr int kSteps = 20, kRows = 4, kLen = 16, kIdleFrom = 4, kIdleRows = 12;

models::LlmConfig TinyQwen3Moe() {
  models::LlmConfig c;
  c.model_type = "qwen3_moe";
  c.vocab_size = 64, c.hidden_size = 32, c.intermediate_size = 48, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8, c.qk_norm = true;
  c.tie_word_embeddings = false;
  c.num_experts = 8, c.num_experts_per_tok = 2, c.moe_intermediate_size = 16, c.norm_topk_prob = true;
  c.output_router_logits = true, c.router_aux_loss_coef = 0.02;
  return c;
}

// kRows rows, or kIdleRows for the idle layouts (whose 6 ranks need 6 | rows).
data::PackedBatch GlobalBatch(int step, bool idle_upper = false) {
  const int64_t rows = idle_upper ? kIdleRows : kRows;
  auto g = at::make_generator<at::CPUGeneratorImpl>(900 + step);
  data::PackedBatch b;
  b.input_ids = (at::randint(64, {rows, 1}, g) + 3 * at::arange(kLen).unsqueeze(0)) % 64;
  b.labels = at::full_like(b.input_ids, data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.doc_ids = at::zeros_like(b.input_ids);
  b.doc_ids.slice(1, 7).fill_(1);
  b.labels.select(1, 6).fill_(data::kIgnoreIndex);
  b.position_ids = at::cat({at::arange(7), at::arange(kLen - 7)}).expand({rows, kLen}).contiguous();
  return b;
}

// Channel 0 of every token's embedding is 10, so channel 0 of the residual
// stream, and of each router's normalised input y, is positive (about 5)
// whatever the token. Router rows 4..7 read only that channel, with weight
// -4: their logits sit near -20 while experts 0..3 keep their initial rows
// (logits well under 1), so no token picks 4..7, and the training steps
// cannot close a gap of ~19 (Adam moves each weight by about lr per step).
// The test asserts the premise every step.
void RouteAwayFromUpperExperts(models::DecoderLM& model) {
  at::NoGradGuard no_grad;
  int routers = 0, embeddings = 0;
  for (const auto& p : model.named_parameters()) {
    auto w = p.value();
    if (models::MatchesPattern("model.embed_tokens.weight", p.key())) {  // (V, C)
      w.select(1, 0).fill_(10.0);
      ++embeddings;
    } else if (models::MatchesPattern("model.layers.*.mlp.gate.weight", p.key())) {  // (E, C)
      w.slice(0, kIdleFrom).zero_();
      w.slice(0, kIdleFrom).select(1, 0).fill_(-4.0);
      ++routers;
    }
  }
  ASSERT_EQ(embeddings, 1);
  ASSERT_EQ(routers, 2);
}

using testing::DataRows;
using testing::ParityOptimizer;
using testing::Trajectory;

std::shared_ptr<models::DecoderLM> BuildModel(bool idle_upper) {
  auto model = std::make_shared<models::DecoderLM>(TinyQwen3Moe());
  model->InitWeights(17);
  if (idle_upper) RouteAwayFromUpperExperts(*model);
  return model;
}

Trajectory Reference(bool idle_upper) {
  auto model = BuildModel(idle_upper);
  return testing::TrainOneProcess(*model, ParityOptimizer(), kSteps,
                                  [idle_upper](int s) { return std::vector<data::PackedBatch>{GlobalBatch(s, idle_upper)}; });
}

const Trajectory& SingleProcess(bool idle_upper) {
  if (idle_upper) {
    static const Trajectory idle = Reference(true);
    return idle;
  }
  static const Trajectory plain = Reference(false);
  return plain;
}

struct Layout {
  const char* name;
  int world, dp_replicate, sp, ep;
  int64_t chunks = 1;
  bool idle_upper = false;  // no token reaches experts kIdleFrom.. (EP rank 1's)
};

// Final-parameter bound. The idle layouts' residual stream carries a channel
// of 10, which makes q/k's fp32 reduction-order noise larger: measured
// 2.0e-5 at most (q_proj), so 4e-5; one misplaced gradient moves a weight by
// about one Adam step (lr 3e-3 x warmup), 50x more.
double ParamTolerance(const Layout& l) { return l.idle_upper ? 4e-5 : 1e-5; }

void PrintTo(const Layout& l, std::ostream* os) { *os << l.name; }

class ExpertParityTest : public ::testing::TestWithParam<Layout> {};

TEST_P(ExpertParityTest, TwentyStepsMatchOneProcess) {
  const Layout l = GetParam();
  const Trajectory& ref = SingleProcess(l.idle_upper);
  const auto state = parallel::ParallelState::Create(l.world, {l.dp_replicate, -1, l.sp, l.ep});
  std::vector<std::vector<double>> losses(static_cast<size_t>(l.world));
  std::map<std::string, at::Tensor> params;
  testing::RunOnRanks(l.world, [&](const comm::CommunicatorPtr& world) {
    auto groups = parallel::BuildProcessGroups(state, world);
    auto model = BuildModel(l.idle_upper);
    if (l.sp > 1) model->SetAttentionBackend(std::make_shared<parallel::UlyssesAttention>(groups.sp, parallel::UlyssesMode::kSync));
    if (l.ep > 1) {
      model->SetExpertDispatcher(std::make_shared<parallel::ExpertParallelDispatcher>(
          groups.ep, parallel::ExpertParallelOptions{l.chunks}));
    }
    parallel::FsdpModel fsdp(model, groups);
    auto opt = train::BuildAdamW(fsdp.ShardParameters(true), fsdp.ShardParameters(false), ParityOptimizer());
    train::StepOptions so;
    so.grad_clip = ParityOptimizer().grad_clip;
    train::UseFsdp(&so, &fsdp, groups.world);
    for (int s = 0; s < kSteps; ++s) {
      auto mine = DataRows(GlobalBatch(s, l.idle_upper), groups.dp->rank(), groups.dp->size());
      auto slice = train::SliceSequence(mine, groups.sp->rank(), groups.sp->size());
      losses[static_cast<size_t>(world->rank())].push_back(train::TrainStep(*model, *opt, {slice}, so).loss);
      if (l.idle_upper) {  // the premise: summed over ranks, experts 4..7 got nothing, 0..3 everything
        const auto counts = model->router_stats()->totals().counts;  // (L, E)
        EXPECT_EQ(counts.slice(1, kIdleFrom).sum().item<int64_t>(), 0) << "step " << s;
        EXPECT_GT(counts.slice(1, 0, kIdleFrom).sum().item<int64_t>(), 0) << "step " << s;
      }
    }
    auto full = fsdp.GatherFullState();
    if (world->rank() == 0) {
      for (auto& [name, t] : full) params[name] = t;
    }
  });
  testing::ExpectSameLosses(losses, ref.losses, l.name);
  testing::ExpectSameParams(params, ref.params, l.name, ParamTolerance(l));
}

INSTANTIATE_TEST_SUITE_P(Layouts, ExpertParityTest,
                         ::testing::Values(Layout{"fsdp4_no_ep", 4, 1, 1, 1}, Layout{"ep2_fsdp2", 4, 1, 1, 2},
                                           Layout{"ep4", 4, 1, 1, 4}, Layout{"ep2_sp2", 4, 1, 2, 2},
                                           Layout{"ep4_overlapped", 4, 1, 1, 4, 2},
                                           Layout{"hsdp2_ep2", 4, 2, 1, 2},
                                           Layout{"ep2_fsdp2_idle_rank", 4, 1, 1, 2, 1, true},
                                           Layout{"ep2_fsdp3_idle_rank", 6, 1, 1, 2, 1, true},
                                           Layout{"ep2_overlapped_idle_rank", 4, 1, 1, 2, 2, true}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace loom
