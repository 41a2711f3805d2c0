// Ulysses SP: the attention backend against one process (outputs and input
// gradients; sync and async; GQA with fewer KV heads than sp, MQA), layout
// errors, and SliceSequence's padding.
#include <gtest/gtest.h>

#include <mutex>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "ops/base/error.h"
#include "parallel/ulysses/ulysses_attention.h"
#include "sdk/train/sequence_slice.h"
#include "tests/testing/multi_rank.h"

namespace loom {
namespace {

struct Case {
  const char* name;
  int sp;
  int64_t heads, kv_heads;
  parallel::UlyssesMode mode;
};

class UlyssesAttentionTest : public ::testing::TestWithParam<Case> {};

TEST_P(UlyssesAttentionTest, MatchesOneProcessForwardAndBackward) {
  const Case c = GetParam();
  const int64_t b = 2, t = 12, d = 8;  // t divisible by sp (the trainer pads)
  torch::manual_seed(21);
  auto q = torch::randn({b, c.heads, t, d}), k = torch::randn({b, c.kv_heads, t, d});
  auto v = torch::randn({b, c.kv_heads, t, d}), grad = torch::randn({b, c.heads, t, d});
  auto doc_ids = torch::tensor({0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, -1,  //
                                0, 0, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2},
                               torch::kLong).view({b, t});
  // One process.
  auto q1 = q.clone().requires_grad_(), k1 = k.clone().requires_grad_(), v1 = v.clone().requires_grad_();
  auto want = ops::CausalAttention(q1, k1, v1, {doc_ids});
  auto want_grads = torch::autograd::grad({want}, {q1, k1, v1}, {grad});

  const int64_t s = t / c.sp;
  testing::RunOnRanks(c.sp, [&](const comm::CommunicatorPtr& sp) {
    const int64_t lo = sp->rank() * s;
    const auto mine = [&](const at::Tensor& x) { return x.slice(2, lo, lo + s).clone().requires_grad_(); };
    auto ql = mine(q), kl = mine(k), vl = mine(v);
    parallel::UlyssesAttention attention(sp, c.mode);
    ops::QkvProjections qkv{[&] { return ql * 1.0; }, [&] { return kl * 1.0; }, [&] { return vl * 1.0; }};
    auto local_ids = doc_ids.slice(1, lo, lo + s).contiguous();
    auto out = attention.AttendProjected(qkv, {local_ids});
    ASSERT_EQ(out.sizes(), ql.sizes());
    auto grads = torch::autograd::grad({out}, {ql, kl, vl}, {grad.slice(2, lo, lo + s)});
    EXPECT_LE((out - want.slice(2, lo, lo + s)).abs().max().item<double>(), 1e-5) << c.name;
    const at::Tensor* expected[] = {&want_grads[0], &want_grads[1], &want_grads[2]};
    for (int i = 0; i < 3; ++i) {
      EXPECT_LE((grads[i] - expected[i]->slice(2, lo, lo + s)).abs().max().item<double>(), 1e-5)
          << c.name << " input " << i << " rank " << sp->rank();
    }
  });
}

INSTANTIATE_TEST_SUITE_P(
    Cases, UlyssesAttentionTest,
    ::testing::Values(Case{"sp2_gqa", 2, 4, 2, parallel::UlyssesMode::kSync},
                      Case{"sp4_gqa_kv2_replicated", 4, 4, 2, parallel::UlyssesMode::kSync},
                      Case{"sp4_mqa", 4, 8, 1, parallel::UlyssesMode::kSync},
                      Case{"sp2_mha", 2, 6, 6, parallel::UlyssesMode::kSync},
                      Case{"async_sp2_gqa", 2, 4, 2, parallel::UlyssesMode::kAsync},
                      Case{"async_sp4_gqa_kv2_replicated", 4, 4, 2, parallel::UlyssesMode::kAsync},
                      Case{"async_sp4_mqa", 4, 8, 1, parallel::UlyssesMode::kAsync},
                      Case{"async_sp4_kv6_lcm_replication", 4, 12, 6, parallel::UlyssesMode::kAsync},
                      Case{"sp3_odd_heads", 3, 6, 3, parallel::UlyssesMode::kSync}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(UlyssesLayoutTest, HeadsNotDivisibleBySpNameTheValidSizes) {
  EXPECT_EQ(parallel::UlyssesLayoutError(8, 2, 4), "");
  EXPECT_EQ(parallel::UlyssesLayoutError(8, 1, 8), "");
  const auto err = parallel::UlyssesLayoutError(6, 2, 4);
  EXPECT_NE(err.find("num_attention_heads 6 is not divisible by parallel.sp 4"), std::string::npos) << err;
  EXPECT_NE(err.find("1, 2, 3, 6"), std::string::npos) << err;
  EXPECT_EQ(parallel::UlyssesKvRepeat(2, 4), 2);
  EXPECT_EQ(parallel::UlyssesKvRepeat(4, 2), 1);
  EXPECT_EQ(parallel::UlyssesKvRepeat(6, 4), 2);
}

TEST(SliceSequenceTest, PadsToAMultipleOfSpAndKeepsGlobalPositions) {
  data::PackedBatch b;
  b.input_ids = torch::arange(10, 17).view({1, 7});
  b.labels = torch::arange(20, 27).view({1, 7});
  b.position_ids = torch::tensor({0, 1, 2, 0, 1, 2, 3}).view({1, 7});
  b.doc_ids = torch::tensor({0, 0, 0, 1, 1, 1, 1}).view({1, 7});
  std::vector<int64_t> ids, labels, positions, docs;
  for (int r = 0; r < 4; ++r) {
    auto s = train::SliceSequence(b, r, 4);
    ASSERT_EQ(s.seq_len(), 2);
    for (int i = 0; i < 2; ++i) {
      ids.push_back(s.input_ids[0][i].item<int64_t>());
      labels.push_back(s.labels[0][i].item<int64_t>());
      positions.push_back(s.position_ids[0][i].item<int64_t>());
      docs.push_back(s.doc_ids[0][i].item<int64_t>());
    }
  }
  EXPECT_EQ(ids, (std::vector<int64_t>{10, 11, 12, 13, 14, 15, 16, 0}));
  EXPECT_EQ(labels, (std::vector<int64_t>{20, 21, 22, 23, 24, 25, 26, -100}));
  EXPECT_EQ(positions, (std::vector<int64_t>{0, 1, 2, 0, 1, 2, 3, 0}));
  EXPECT_EQ(docs, (std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1, -1}));
  // A row shorter than sp: ranks past its end hold only padding.
  auto shorter = train::SliceSequence({b.input_ids.slice(1, 0, 2), b.labels.slice(1, 0, 2),
                                       b.position_ids.slice(1, 0, 2), b.doc_ids.slice(1, 0, 2)},
                                      3, 4);
  EXPECT_EQ(shorter.seq_len(), 1);
  EXPECT_EQ(shorter.labels[0][0].item<int64_t>(), -100);
  EXPECT_EQ(shorter.doc_ids[0][0].item<int64_t>(), -1);
}

}  // namespace
}  // namespace loom
