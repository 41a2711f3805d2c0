// ParallelState over every factorisation of 8 ranks (and every valid ep), the
// validation messages, and real process groups built from it.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "parallel/mesh/parallel_state.h"
#include "parallel/mesh/process_groups.h"
#include "tests/testing/multi_rank.h"

namespace loom::parallel {
namespace {

int ExpectedSize(const ParallelState& s, GroupKind kind) {
  const auto& m = s.shape();
  switch (kind) {
    case GroupKind::kDpReplicate: return m.dp_replicate;
    case GroupKind::kDpShard: return m.dp_shard;
    case GroupKind::kSp: return m.sp;
    case GroupKind::kFsdp: return m.dp_shard * m.sp;
    case GroupKind::kDp: return m.dp_replicate * m.dp_shard;
    case GroupKind::kEp: return m.ep;
    case GroupKind::kExpertFsdp: return m.dp_shard * m.sp / m.ep;
  }
  return -1;
}

// Checks every structural property of one layout.
void CheckLayout(const ParallelState& s) {
  const int world = s.world_size();
  std::set<std::tuple<int, int, int>> coords;
  for (int rank = 0; rank < world; ++rank) {
    const auto c = s.Coordinates(rank);
    EXPECT_EQ(s.RankOf(c.dp_replicate, c.dp_shard, c.sp), rank);
    coords.insert({c.dp_replicate, c.dp_shard, c.sp});
    for (GroupKind kind : kAllGroupKinds) {
      const auto g = s.GroupRanks(kind, rank);
      SCOPED_TRACE(std::string(GroupKindName(kind)) + " of rank " + std::to_string(rank));
      EXPECT_EQ(static_cast<int>(g.size()), ExpectedSize(s, kind));
      EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));
      EXPECT_NE(std::find(g.begin(), g.end(), rank), g.end());
      // Groups partition the world: every member computes the same group.
      for (int peer : g) EXPECT_EQ(s.GroupRanks(kind, peer), g);
    }
    // ep and expert_fsdp tile the fsdp group: their product spans it exactly.
    const auto fsdp = s.GroupRanks(GroupKind::kFsdp, rank);
    std::set<int> spanned;
    for (int e : s.GroupRanks(GroupKind::kEp, rank))
      for (int f : s.GroupRanks(GroupKind::kExpertFsdp, e)) spanned.insert(f);
    EXPECT_EQ(std::vector<int>(spanned.begin(), spanned.end()), fsdp);
    // Rank within ep / expert_fsdp matches the coordinates.
    const auto ep = s.GroupRanks(GroupKind::kEp, rank);
    EXPECT_EQ(std::find(ep.begin(), ep.end(), rank) - ep.begin(), c.ep);
    const auto ef = s.GroupRanks(GroupKind::kExpertFsdp, rank);
    EXPECT_EQ(std::find(ef.begin(), ef.end(), rank) - ef.begin(), c.expert_fsdp);
    // SP peers are neighbours: sp is the innermost axis.
    const auto sp = s.GroupRanks(GroupKind::kSp, rank);
    EXPECT_EQ(sp.back() - sp.front() + 1, static_cast<int>(sp.size()));
  }
  EXPECT_EQ(static_cast<int>(coords.size()), world);
}

TEST(ParallelStateTest, EveryFactorisationOfEightRanks) {
  int layouts = 0;
  for (int r = 1; r <= 8; ++r)
    for (int s = 1; s <= 8; ++s)
      for (int p = 1; p <= 8; ++p) {
        if (r * s * p != 8) continue;
        for (int ep = 1; ep <= s * p; ++ep) {
          if ((s * p) % ep != 0) continue;
          SCOPED_TRACE("dp_replicate " + std::to_string(r) + " dp_shard " + std::to_string(s) +
                       " sp " + std::to_string(p) + " ep " + std::to_string(ep));
          CheckLayout(ParallelState::Create(8, {r, s, p, ep}));
          ++layouts;
        }
      }
  // 10 ordered factorisations (r,s,p) of 8, each with every ep dividing s*p.
  EXPECT_EQ(layouts, 30);
}

TEST(ParallelStateTest, KnownGroupsFor2x2x2) {
  const auto s = ParallelState::Create(8, {2, 2, 2, 2});
  EXPECT_EQ(s.GroupRanks(GroupKind::kSp, 5), (std::vector<int>{4, 5}));
  EXPECT_EQ(s.GroupRanks(GroupKind::kDpShard, 5), (std::vector<int>{5, 7}));
  EXPECT_EQ(s.GroupRanks(GroupKind::kDpReplicate, 5), (std::vector<int>{1, 5}));
  EXPECT_EQ(s.GroupRanks(GroupKind::kFsdp, 5), (std::vector<int>{4, 5, 6, 7}));
  EXPECT_EQ(s.GroupRanks(GroupKind::kDp, 5), (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(s.GroupRanks(GroupKind::kEp, 5), (std::vector<int>{4, 5}));
  EXPECT_EQ(s.GroupRanks(GroupKind::kExpertFsdp, 5), (std::vector<int>{5, 7}));
}

TEST(ParallelStateTest, DpShardDefaultsToTheRest) {
  const auto s = ParallelState::Create(8, {2, -1, 2, 1});
  EXPECT_EQ(s.shape().dp_shard, 2);
}

void ExpectError(int world, MeshShape shape, const std::vector<std::string>& parts) {
  try {
    ParallelState::Create(world, shape);
    ADD_FAILURE() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

TEST(ParallelStateTest, InvalidLayoutsNameTheNumbersAndTheFix) {
  ExpectError(6, {1, 4, 2, 1}, {"world size 6 != dp_replicate 1 x dp_shard 4 x sp 2 = 8",
                                "set dp_shard to 3"});
  ExpectError(7, {1, -1, 2, 1}, {"world size 7 is not divisible by dp_replicate 1 x sp 2",
                                 "divisors of 7 (1, 7)"});
  ExpectError(4, {1, -1, 1, 3}, {"ep 3 does not divide dp_shard x sp = 4", "1, 2, 4"});
  ExpectError(4, {0, -1, 1, 1}, {"dp_replicate 0 must be >= 1"});
  EXPECT_EQ(ParallelState::Validate(8, {2, 2, 2, 4}), "");
}

TEST(ProcessGroupsTest, RealGroupsReduceOverTheirMembers) {
  const auto state = ParallelState::Create(8, {2, 2, 2, 2});
  testing::RunOnRanks(8, [&](const comm::CommunicatorPtr& world) {
    auto groups = BuildProcessGroups(state, world);
    for (GroupKind kind : kAllGroupKinds) {
      const auto& g = groups.Get(kind);
      const auto members = state.GroupRanks(kind, world->rank());
      EXPECT_EQ(g->world_ranks(), members) << GroupKindName(kind);
      auto t = at::full({1}, static_cast<double>(world->rank()), at::kDouble);
      g->AllReduce(t)->Wait();
      EXPECT_EQ(t.item<double>(), std::accumulate(members.begin(), members.end(), 0.0))
          << GroupKindName(kind);
    }
  });
}

}  // namespace
}  // namespace loom::parallel
