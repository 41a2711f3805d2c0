// Ulysses SP (with FSDP / HSDP / recompute) against one process: fp32, CPU,
// same seed and the same tokens per step, 20 AdamW steps with clipping.
// Per-step loss within 1e-5 relative and final parameters within 1e-5.
// Rows are 15 tokens (two packed documents of 7 and 8: not multiples of sp),
// or 3 tokens (a row shorter than sp = 4). GQA: 4 query heads, 2 KV heads, so
// SP4 replicates KV heads. Async and sync give the same losses.
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "models/llm/decoder_lm.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "parallel/recompute/recompute.h"
#include "parallel/ulysses/ulysses_attention.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_step.h"
#include "tests/testing/multi_rank.h"
#include "tests/testing/parity.h"

namespace loom {
namespace {

constexpr int kSteps = 20, kRows = 4;

models::LlmConfig TinyQwen3Gqa() {
  models::LlmConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 96, c.hidden_size = 32, c.intermediate_size = 40, c.num_hidden_layers = 2;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 8, c.qk_norm = true;
  c.tie_word_embeddings = false;
  return c;
}

// Step s's global batch: kRows rows of `len` tokens; two documents per row
// (split at len/2) when len > 3.
data::PackedBatch GlobalBatch(int step, int64_t len) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(700 + step);
  data::PackedBatch b;
  // Arithmetic runs from a random start: learnable, so the loss must fall.
  b.input_ids = (at::randint(96, {kRows, 1}, g) + 5 * at::arange(len).unsqueeze(0)) % 96;
  b.labels = at::full_like(b.input_ids, data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.doc_ids = at::zeros_like(b.input_ids);
  const int64_t split = len > 3 ? len / 2 : len;
  b.doc_ids.slice(1, split).fill_(1);
  if (split < len) b.labels.select(1, split - 1).fill_(data::kIgnoreIndex);
  b.position_ids = at::cat({at::arange(split), at::arange(len - split)}).expand({kRows, len}).contiguous();
  return b;
}

using testing::DataRows;
using testing::ParityOptimizer;
using testing::Trajectory;

const Trajectory& SingleProcess(int64_t len) {
  static std::mutex mu;
  static std::map<int64_t, Trajectory> refs;
  std::lock_guard<std::mutex> lock(mu);
  if (auto it = refs.find(len); it != refs.end()) return it->second;
  Trajectory r;
  auto model = std::make_shared<models::DecoderLM>(TinyQwen3Gqa());
  model->InitWeights(5);
  auto opt = train::BuildAdamW(model->parameters(), ParityOptimizer());
  train::StepOptions so;
  so.grad_clip = ParityOptimizer().grad_clip;
  for (int s = 0; s < kSteps; ++s) r.losses.push_back(train::TrainStep(*model, *opt, {GlobalBatch(s, len)}, so).loss);
  for (const auto& p : model->named_parameters()) r.params[p.key()] = p.value().detach().clone();
  return refs[len] = std::move(r);
}

struct Layout {
  const char* name;
  int world, dp_replicate, sp;
  parallel::UlyssesMode mode = parallel::UlyssesMode::kSync;
  parallel::RecomputePolicy recompute = parallel::RecomputePolicy::kNone;
  int64_t len = 15;
};

// Per-rank losses of a layout (runs it).
std::vector<std::vector<double>> RunLayout(const Layout& l, std::map<std::string, at::Tensor>* final_params) {
  const auto state = parallel::ParallelState::Create(l.world, {l.dp_replicate, -1, l.sp, 1});
  std::vector<std::vector<double>> losses(static_cast<size_t>(l.world));
  testing::RunOnRanks(l.world, [&](const comm::CommunicatorPtr& world) {
    auto groups = parallel::BuildProcessGroups(state, world);
    auto model = std::make_shared<models::DecoderLM>(TinyQwen3Gqa());
    model->InitWeights(5);
    parallel::ApplyRecompute(*model, l.recompute);
    model->SetAttentionBackend(std::make_shared<parallel::UlyssesAttention>(groups.sp, l.mode));
    parallel::FsdpModel fsdp(model, groups);
    auto opt = train::BuildAdamW(fsdp.ShardParameters(true), fsdp.ShardParameters(false), ParityOptimizer());
    train::StepOptions so;
    so.grad_clip = ParityOptimizer().grad_clip;
    train::UseFsdp(&so, &fsdp, groups.world);  // every rank holds distinct tokens
    for (int s = 0; s < kSteps; ++s) {
      auto mine = DataRows(GlobalBatch(s, l.len), groups.dp->rank(), groups.dp->size());
      auto slice = train::SliceSequence(mine, groups.sp->rank(), groups.sp->size());
      losses[static_cast<size_t>(world->rank())].push_back(train::TrainStep(*model, *opt, {slice}, so).loss);
    }
    auto full = fsdp.GatherFullState();
    if (world->rank() == 0 && final_params) {
      for (auto& [name, t] : full) (*final_params)[name] = t;
    }
  });
  return losses;
}

void PrintTo(const Layout& l, std::ostream* os) { *os << l.name; }

class UlyssesParityTest : public ::testing::TestWithParam<Layout> {};

TEST_P(UlyssesParityTest, TwentyStepsMatchOneProcess) {
  const Layout l = GetParam();
  const Trajectory& ref = SingleProcess(l.len);
  std::map<std::string, at::Tensor> params;
  const auto losses = RunLayout(l, &params);
  testing::ExpectSameLosses(losses, ref.losses, l.name);
  testing::ExpectSameParams(params, ref.params, l.name);
}

using parallel::RecomputePolicy;
using parallel::UlyssesMode;
INSTANTIATE_TEST_SUITE_P(
    Layouts, UlyssesParityTest,
    ::testing::Values(Layout{"sp2", 2, 1, 2}, Layout{"sp4_gqa_kv_replicated", 4, 1, 4},
                      Layout{"sp2_fsdp2", 4, 1, 2}, Layout{"hsdp2_sp2", 4, 2, 2},
                      Layout{"sp2_full_recompute", 2, 1, 2, UlyssesMode::kSync, RecomputePolicy::kFull},
                      Layout{"async_sp2_fsdp2", 4, 1, 2, UlyssesMode::kAsync},
                      Layout{"async_sp4_recompute", 4, 1, 4, UlyssesMode::kAsync, RecomputePolicy::kFull},
                      Layout{"sp4_rows_shorter_than_sp", 4, 1, 4, UlyssesMode::kSync, RecomputePolicy::kNone, 3}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(UlyssesAsyncTest, AsyncAndSyncGiveIdenticalLosses) {
  const auto sync = RunLayout({"sp4_sync", 4, 1, 4, UlyssesMode::kSync}, nullptr);
  const auto async = RunLayout({"sp4_async", 4, 1, 4, UlyssesMode::kAsync}, nullptr);
  for (int s = 0; s < kSteps; ++s) EXPECT_EQ(sync[0][s], async[0][s]) << "step " << s;
}

}  // namespace
}  // namespace loom
