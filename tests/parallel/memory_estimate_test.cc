// loom plan's activation estimate (parallel/plan/memory_estimate.h) against
// what one forward + backward really holds: a tracking allocator measures the
// peak above the model (parameter gradients, allocated during backward, are
// subtracted), for a dense and a MoE model under each recompute policy.
#include <gtest/gtest.h>

#include <cstdio>

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>

#include "models/llm/decoder_lm.h"
#include "ops/base/error.h"
#include "parallel/plan/memory_estimate.h"
#include "parallel/recompute/recompute.h"
#include "tests/bench/tracking_allocator.h"

namespace loom {
namespace {

models::LlmConfig Dense() {
  models::LlmConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 128, c.hidden_size = 64, c.intermediate_size = 176, c.num_hidden_layers = 4;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 16, c.qk_norm = true;
  return c;
}

models::LlmConfig Moe() {
  auto c = Dense();
  c.model_type = "qwen3_moe";
  // Routed copies dominate (k = 4 copies, each with a 128-wide expert MLP):
  // a dense-MLP formula would miss most of these activations.
  c.num_experts = 16, c.num_experts_per_tok = 4, c.moe_intermediate_size = 128, c.norm_topk_prob = true;
  c.mlp_only_layers = {0};  // one dense layer, three sparse
  return c;
}

struct Case {
  const char* name;
  bool moe;
  parallel::RecomputePolicy recompute;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class MemoryEstimateTest : public ::testing::TestWithParam<Case> {};

TEST_P(MemoryEstimateTest, ActivationEstimateIsWithin1point5xOfTheMeasuredPeak) {
  const Case& tc = GetParam();
  const auto config = tc.moe ? Moe() : Dense();
  constexpr int64_t kTokens = 2048;
  auto model = std::make_shared<models::DecoderLM>(config);
  model->InitWeights(3);
  parallel::ApplyRecompute(*model, tc.recompute);
  auto g = at::make_generator<at::CPUGeneratorImpl>(4);
  auto ids = at::randint(config.vocab_size, {1, kTokens}, g);
  auto labels = ids.roll(-1, 1);
  int64_t grad_bytes = 0;
  for (const auto& p : model->parameters()) grad_bytes += p.numel() * 4;

  int64_t measured = 0;
  {
    bench::ScopedTracking tracker;
    const int64_t before = tracker->live();
    tracker->ResetPeak();
    model->LossSum({ids, at::Tensor(), at::Tensor()}, labels, 512).backward();
    measured = tracker->peak() - before - grad_bytes;
  }

  const auto state = parallel::ParallelState::Create(1, {});
  const auto estimate = parallel::EstimateMemory(config, state, tc.recompute, kTokens, 1);
  const double ratio = static_cast<double>(estimate.activation_bytes) / static_cast<double>(measured);
  std::printf("[ %s ] activations at %lld tokens: estimated %lld bytes, measured %lld (ratio %.2f)\n", tc.name,
              static_cast<long long>(kTokens), static_cast<long long>(estimate.activation_bytes),
              static_cast<long long>(measured), ratio);
  EXPECT_GT(ratio, 1 / 1.5) << tc.name;
  EXPECT_LT(ratio, 1.5) << tc.name;
}

INSTANTIATE_TEST_SUITE_P(
    Models, MemoryEstimateTest,
    ::testing::Values(Case{"dense_none", false, parallel::RecomputePolicy::kNone},
                      Case{"dense_selective", false, parallel::RecomputePolicy::kSelective},
                      Case{"dense_full", false, parallel::RecomputePolicy::kFull},
                      Case{"moe_none", true, parallel::RecomputePolicy::kNone},
                      Case{"moe_selective", true, parallel::RecomputePolicy::kSelective},
                      Case{"moe_full", true, parallel::RecomputePolicy::kFull}),
    [](const auto& info) { return std::string(info.param.name); });

// The longest row within a budget: its estimate fits and one token more does
// not (the search is exact), for a dense and a MoE model, with SP and
// recompute; a budget below the sharded state gives 0.
TEST(LongestSeqLenWithinTest, IsTheExactBoundaryOfTheEstimate) {
  for (const char* family : {"qwen3", "qwen3_moe"}) {
    models::LlmConfig m;
    m.model_type = family;
    m.vocab_size = 1000, m.hidden_size = 64, m.num_hidden_layers = 3, m.num_attention_heads = 4,
    m.num_key_value_heads = 2, m.head_dim = 16, m.intermediate_size = 96;
    for (auto [sp, recompute] : {std::pair{1, parallel::RecomputePolicy::kNone}, {2, parallel::RecomputePolicy::kFull}}) {
      const auto state = parallel::ParallelState::Create(4, {1, -1, sp, 1});
      const auto at = [&](int64_t len) { return parallel::EstimateMemory(m, state, recompute, len, 2).total_bytes; };
      const int64_t budget = at(5000) + 12345;
      const int64_t longest = parallel::LongestSeqLenWithin(budget, m, state, recompute, 2);
      EXPECT_GE(longest, 5000) << family;
      EXPECT_LE(at(longest), budget) << family;
      EXPECT_GT(at(longest + 1), budget) << family;
      EXPECT_EQ(parallel::LongestSeqLenWithin(at(1) - 1, m, state, recompute, 2), 0) << family;
    }
  }
  EXPECT_EQ(parallel::ParseByteSize("80GiB", "k"), int64_t{80} << 30);
  EXPECT_EQ(parallel::ParseByteSize("1.5KB", "k"), 1500);
  try {
    parallel::ParseByteSize("80 gigs", "--memory-budget");
    ADD_FAILURE() << "a bad size was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--memory-budget '80 gigs' is not a positive size"), std::string::npos);
  }
}

}  // namespace
}  // namespace loom
