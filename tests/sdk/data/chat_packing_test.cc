// PackEpoch: fixed rows keep the epoch order and never cut a conversation;
// dynamic batching fills rows to the budget first-fit decreasing within a
// window, every fitting conversation exactly once, overlong ones counted,
// the padding small on a skewed mix of lengths.
#include "sdk/data/chat_packing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <random>

namespace loom::data {
namespace {

struct Mix {
  std::vector<int64_t> order, lengths;
};

// A skewed mix: many short captions (12-30), clips (60-200), a few long documents (400-900).
Mix SkewedMix(int n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  Mix m;
  for (int i = 0; i < n; ++i) {
    const auto u = gen() % 100;
    const int64_t len = u < 60 ? 12 + static_cast<int64_t>(gen() % 19) : u < 92 ? 60 + static_cast<int64_t>(gen() % 141)
                                                                        : 400 + static_cast<int64_t>(gen() % 501);
    m.lengths.push_back(len);
    m.order.push_back(i);
  }
  std::shuffle(m.order.begin(), m.order.end(), gen);
  return m;
}

TEST(PackEpochTest, FixedRowsKeepTheOrderAndCountOverlong) {
  const std::vector<int64_t> lengths = {5, 9, 3, 12, 4, 4, 7};
  const std::vector<int64_t> order = {6, 0, 3, 1, 2, 4, 5};
  PackingOptions o;
  o.seq_len = 10;
  const auto len = [&](int64_t d) { return lengths[static_cast<size_t>(d)]; };
  const auto rows = PackEpoch(order, len, len, o);
  // [6] (7) | [0] (5); 3 is too long | [1] (9) | [2, 4] (3 + 4) | [5] (7 + 4 > 10)
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].docs, (std::vector<int64_t>{6}));
  EXPECT_EQ(rows[1].docs, (std::vector<int64_t>{0}));
  EXPECT_EQ(rows[2].docs, (std::vector<int64_t>{1}));
  EXPECT_EQ(rows[2].too_long, 1) << "doc 3 (12 > 10) counted at the next row";
  EXPECT_EQ(rows[3].docs, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(rows[4].docs, (std::vector<int64_t>{5}));
}

TEST(PackEpochTest, DynamicRowsFillTheBudgetWithEveryConversationOnce) {
  const auto mix = SkewedMix(3000, 5);
  const auto len = [&](int64_t d) { return mix.lengths[static_cast<size_t>(d)]; };
  PackingOptions o;
  o.max_tokens = 1024;
  o.window = 256;
  const auto rows = PackEpoch(mix.order, len, len, o);
  std::map<int64_t, int> seen;
  int64_t used = 0, too_long = 0;
  std::map<int64_t, size_t> rank_in_order;
  for (size_t i = 0; i < mix.order.size(); ++i) rank_in_order[mix.order[i]] = i;
  size_t last_first = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const auto& row = rows[r];
    int64_t sum = 0;
    for (size_t k = 0; k < row.docs.size(); ++k) {
      ++seen[row.docs[k]];
      sum += len(row.docs[k]);
      if (k) EXPECT_LT(rank_in_order[row.docs[k - 1]], rank_in_order[row.docs[k]]) << "a row lists its docs in epoch order";
    }
    EXPECT_EQ(sum, row.length);
    EXPECT_LE(row.length, 1024);
    if (r) EXPECT_GT(rank_in_order[row.docs[0]], last_first) << "rows follow their first conversation's order";
    last_first = rank_in_order[row.docs[0]];
    used += row.length;
    too_long += row.too_long;
  }
  EXPECT_EQ(too_long, 0);
  EXPECT_EQ(seen.size(), mix.order.size());
  for (const auto& [d, n] : seen) EXPECT_EQ(n, 1) << "doc " << d;
  const double padding = 1.0 - static_cast<double>(used) / static_cast<double>(rows.size() * 1024);
  EXPECT_LT(padding, 0.03) << "first-fit decreasing in windows of 256 leaves little room";
  // The sequential fill (fixed rows) of the same mix wastes far more: what the window buys.
  PackingOptions fixed;
  fixed.seq_len = 1024;
  const auto plain = PackEpoch(mix.order, len, len, fixed);
  const double plain_padding = 1.0 - static_cast<double>(used) / static_cast<double>(plain.size() * 1024);
  EXPECT_GT(plain_padding, 2 * padding + 0.02) << plain_padding << " vs " << padding;
}

TEST(PackEpochTest, DynamicCostsBoundTheRowAndOverlongAreCounted) {
  // Cost = length + 3 x (encoder positions): a doc may fit by length but not by cost.
  const std::vector<int64_t> lengths = {10, 20, 30, 40, 50};
  const std::vector<int64_t> costs = {10, 80, 30, 200, 50};
  const std::vector<int64_t> order = {4, 3, 2, 1, 0};
  PackingOptions o;
  o.max_tokens = 100;
  o.window = 2;
  const auto rows = PackEpoch(order, [&](int64_t d) { return lengths[static_cast<size_t>(d)]; },
                              [&](int64_t d) { return costs[static_cast<size_t>(d)]; }, o);
  int64_t too_long = 0;
  for (const auto& r : rows) {
    int64_t cost = 0;
    for (auto d : r.docs) cost += costs[static_cast<size_t>(d)];
    EXPECT_LE(cost, 100);
    too_long += r.too_long;
  }
  EXPECT_EQ(too_long, 1) << "doc 3 costs 200 > 100";
  // Windows of 2: {4, 3} -> [4] (3 too costly); {2, 1} -> 1 (80) placed first, 2 (30) finds no room
  // beside it; the rows then follow the order (2 before 1); {0} -> [0].
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].docs, (std::vector<int64_t>{4}));
  EXPECT_EQ(rows[1].docs, (std::vector<int64_t>{2}));
  EXPECT_EQ(rows[2].docs, (std::vector<int64_t>{1}));
  EXPECT_EQ(rows[3].docs, (std::vector<int64_t>{0}));
}

}  // namespace
}  // namespace loom::data
