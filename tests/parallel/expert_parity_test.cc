// Qwen3-MoE under expert parallelism (with FSDP, SP, overlapped dispatch)
// against one process: fp32, CPU, same seed and tokens per step, 20 AdamW
// steps with clipping, the load-balancing aux loss on (coef 0.02). Per-step
// loss (cross-entropy + coef x aux) within 1e-5 relative, final parameters
// within 1e-5 (experts gathered from their EP and expert-FSDP shards).
#include <gtest/gtest.h>

#include <map>

#include <ATen/ATen.h>
#include <torch/torch.h>

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

constexpr int kSteps = 20, kRows = 4, kLen = 16;

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

data::PackedBatch GlobalBatch(int step) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(900 + step);
  data::PackedBatch b;
  b.input_ids = (at::randint(64, {kRows, 1}, g) + 3 * at::arange(kLen).unsqueeze(0)) % 64;
  b.labels = at::full_like(b.input_ids, data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.doc_ids = at::zeros_like(b.input_ids);
  b.doc_ids.slice(1, 7).fill_(1);
  b.labels.select(1, 6).fill_(data::kIgnoreIndex);
  b.position_ids = at::cat({at::arange(7), at::arange(kLen - 7)}).expand({kRows, kLen}).contiguous();
  return b;
}

using testing::DataRows;
using testing::ParityOptimizer;
using testing::Trajectory;

const Trajectory& SingleProcess() {
  static const Trajectory ref = [] {
    auto model = std::make_shared<models::DecoderLM>(TinyQwen3Moe());
    model->InitWeights(17);
    return testing::TrainOneProcess(*model, ParityOptimizer(), kSteps,
                                    [](int s) { return std::vector<data::PackedBatch>{GlobalBatch(s)}; });
  }();
  return ref;
}

struct Layout {
  const char* name;
  int world, dp_replicate, sp, ep;
  int64_t chunks = 1;
};

void PrintTo(const Layout& l, std::ostream* os) { *os << l.name; }

class ExpertParityTest : public ::testing::TestWithParam<Layout> {};

TEST_P(ExpertParityTest, TwentyStepsMatchOneProcess) {
  const Layout l = GetParam();
  const Trajectory& ref = SingleProcess();
  const auto state = parallel::ParallelState::Create(l.world, {l.dp_replicate, -1, l.sp, l.ep});
  std::vector<std::vector<double>> losses(static_cast<size_t>(l.world));
  std::map<std::string, at::Tensor> params;
  testing::RunOnRanks(l.world, [&](const comm::CommunicatorPtr& world) {
    auto groups = parallel::BuildProcessGroups(state, world);
    auto model = std::make_shared<models::DecoderLM>(TinyQwen3Moe());
    model->InitWeights(17);
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
      auto mine = DataRows(GlobalBatch(s), groups.dp->rank(), groups.dp->size());
      auto slice = train::SliceSequence(mine, groups.sp->rank(), groups.sp->size());
      losses[static_cast<size_t>(world->rank())].push_back(train::TrainStep(*model, *opt, {slice}, so).loss);
    }
    auto full = fsdp.GatherFullState();
    if (world->rank() == 0) {
      for (auto& [name, t] : full) params[name] = t;
    }
  });
  testing::ExpectSameLosses(losses, ref.losses, l.name);
  testing::ExpectSameParams(params, ref.params, l.name);
}

INSTANTIATE_TEST_SUITE_P(Layouts, ExpertParityTest,
                         ::testing::Values(Layout{"fsdp4_no_ep", 4, 1, 1, 1}, Layout{"ep2_fsdp2", 4, 1, 1, 2},
                                           Layout{"ep4", 4, 1, 1, 4}, Layout{"ep2_sp2", 4, 1, 2, 2},
                                           Layout{"ep4_overlapped", 4, 1, 1, 4, 2},
                                           Layout{"hsdp2_ep2", 4, 2, 1, 2}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace loom
