// CausalAttention (per-document segments, no mask) against SDPA with the
// explicit packed causal mask: packed documents, padding, GQA, gradients.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include "ops/attention/attention.h"

namespace loom::ops {
namespace {

at::Tensor MaskedReference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& doc_ids) {
  const int64_t rep = q.size(1) / k.size(1);
  auto mask = PackedCausalMask(doc_ids, q.size(0), q.size(2));
  return at::scaled_dot_product_attention(q, k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1), mask);
}

TEST(CausalAttentionTest, SegmentsMatchTheMaskedReferenceWithGradients) {
  torch::manual_seed(3);
  const int64_t b = 3, h = 4, kv = 2, t = 11, d = 8;
  // Row 0: docs of 4, 5, then 2 padding; row 1: one doc; row 2: 1, 3, 7.
  auto doc_ids = torch::tensor({0, 0, 0, 0, 1, 1, 1, 1, 1, -1, -1,  //
                                0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,   //
                                0, 1, 1, 1, 2, 2, 2, 2, 2, 2,  2},
                               torch::kLong)
                     .view({b, t});
  auto q = torch::randn({b, h, t, d}, torch::requires_grad());
  auto k = torch::randn({b, kv, t, d}, torch::requires_grad());
  auto v = torch::randn({b, kv, t, d}, torch::requires_grad());
  auto grad = torch::randn({b, h, t, d});

  auto out = CausalAttention(q, k, v, {doc_ids});
  auto got = torch::autograd::grad({out}, {q, k, v}, {grad});
  auto want = MaskedReference(q, k, v, doc_ids);
  auto expected = torch::autograd::grad({want}, {q, k, v}, {grad});
  EXPECT_LE((out - want).abs().max().item<double>(), 1e-5);
  for (int i = 0; i < 3; ++i) EXPECT_LE((got[i] - expected[i]).abs().max().item<double>(), 1e-5) << "input " << i;
  // Padding attends only to itself: its output is its own v.
  EXPECT_TRUE(at::equal(out[0].slice(1, 9, 11), v[0].repeat_interleave(2, 0).slice(1, 9, 11)));
}

TEST(CausalAttentionTest, NoDocIdsIsOneCausalDocumentPerRow) {
  torch::manual_seed(4);
  auto q = torch::randn({2, 2, 9, 4}), k = torch::randn({2, 1, 9, 4}), v = torch::randn({2, 1, 9, 4});
  auto out = CausalAttention(q, k, v, {});
  auto want = MaskedReference(q, k, v, at::zeros({2, 9}, at::kLong));
  EXPECT_LE((out - want).abs().max().item<double>(), 1e-5);
}

TEST(CausalAttentionTest, CollatorSegmentsAreUsedAndMustCoverTheRows) {
  torch::manual_seed(5);
  auto doc_ids = torch::tensor({0, 0, 1, 1, 1, -1, 0, 0, 0, 0, 1, 2}, torch::kLong).view({2, 6});
  auto q = torch::randn({2, 2, 6, 4}), k = torch::randn({2, 2, 6, 4}), v = torch::randn({2, 2, 6, 4});
  const auto segments = SegmentsOf(doc_ids);
  ASSERT_EQ(segments.seq_len, 6);
  ASSERT_EQ(segments.rows[0].size(), 3u);  // [0,2) doc 0, [2,5) doc 1, [5,6) padding
  EXPECT_EQ(segments.rows[0][2].doc, -1);
  EXPECT_EQ(segments.rows[1].size(), 3u);
  AttentionInputs given{doc_ids, 0, &segments};
  EXPECT_TRUE(at::equal(CausalAttention(q, k, v, given), CausalAttention(q, k, v, {doc_ids})));
  // The attention follows the given runs (not doc_ids) when they cover the rows:
  // runs that merge row 0's documents give the one-document result.
  PackedSegments merged = segments;
  merged.rows[0] = {{0, 6, 0}};
  AttentionInputs wrong{doc_ids, 0, &merged};
  auto one_doc = CausalAttention(q, k, v, {at::zeros({2, 6}, at::kLong)});
  EXPECT_TRUE(at::allclose(CausalAttention(q, k, v, wrong)[0], one_doc[0]));
  // Runs of another length (a sliced row) are ignored: derived from doc_ids.
  PackedSegments longer = merged;
  longer.seq_len = 8;
  AttentionInputs stale{doc_ids, 0, &longer};
  EXPECT_TRUE(at::equal(CausalAttention(q, k, v, stale), CausalAttention(q, k, v, {doc_ids})));
}

}  // namespace
}  // namespace loom::ops
