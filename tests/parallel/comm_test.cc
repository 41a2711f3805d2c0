// Collectives on 2, 3 and 4 real Gloo ranks against closed-form results,
// in fp32 and bf16 (values are small integers, so both are exact).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "ops/base/error.h"
#include "parallel/comm/communicator.h"
#include "tests/testing/multi_rank.h"

namespace loom {
namespace {

using comm::CommunicatorPtr;
using testing::RunOnRanks;

struct Case {
  int world;
  at::ScalarType dtype;
};

class CollectiveTest : public ::testing::TestWithParam<Case> {};

void ExpectEqual(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  EXPECT_TRUE(at::equal(got.to(at::kDouble), want.to(at::kDouble)))
      << what << "\n got " << got << "\n want " << want;
}

TEST_P(CollectiveTest, AllReduceSumAvgMax) {
  const auto [w, dt] = GetParam();
  RunOnRanks(w, [w, dt](const CommunicatorPtr& c) {
    const double r = c->rank();
    auto base = at::arange(6, at::kDouble);
    // sum: 6 values + rank on each rank -> w*base + w(w-1)/2
    auto t = (base + r).to(dt);
    c->AllReduce(t, {comm::ReduceOp::kSum})->Wait();
    ExpectEqual(t, base * w + w * (w - 1) / 2.0, "sum");
    t = (base + r).to(dt);
    c->AllReduce(t, {comm::ReduceOp::kAvg})->Wait();
    ExpectEqual(t, base + (w - 1) / 2.0, "avg");
    t = (base * (r + 1)).to(dt);
    c->AllReduce(t, {comm::ReduceOp::kMax})->Wait();
    ExpectEqual(t, base * w, "max");
  });
}

TEST_P(CollectiveTest, AllGatherIntoOneTensor) {
  const auto [w, dt] = GetParam();
  RunOnRanks(w, [w, dt](const CommunicatorPtr& c) {
    auto in = at::full({2, 3}, static_cast<double>(c->rank() + 1)).to(dt);
    auto out = at::empty({2 * w, 3}, in.options());
    c->AllGather(out, in)->Wait();
    auto want = (at::arange(w, at::kDouble) + 1).repeat_interleave(2).unsqueeze(1).expand({2 * w, 3});
    ExpectEqual(out, want, "all_gather");
    ExpectEqual(comm::AllGatherDim0(*c, in), want, "AllGatherDim0");
  });
}

TEST_P(CollectiveTest, ReduceScatter) {
  const auto [w, dt] = GetParam();
  RunOnRanks(w, [w, dt](const CommunicatorPtr& c) {
    const double r = c->rank();
    auto idx = at::arange(2 * w, at::kDouble);
    auto in = (idx * (r + 1)).to(dt);  // sum over ranks: idx * w(w+1)/2
    auto out = at::empty({2}, in.options());
    c->ReduceScatter(out, in)->Wait();
    ExpectEqual(out, idx.slice(0, 2 * c->rank(), 2 * c->rank() + 2) * (w * (w + 1) / 2.0), "sum");
    c->ReduceScatter(out, in, {comm::ReduceOp::kAvg})->Wait();
    ExpectEqual(out, idx.slice(0, 2 * c->rank(), 2 * c->rank() + 2) * ((w + 1) / 2.0), "avg");
  });
}

TEST_P(CollectiveTest, AllToAllUnevenSplits) {
  const auto [w, dt] = GetParam();
  RunOnRanks(w, [w, dt](const CommunicatorPtr& c) {
    const int r = c->rank();
    // Rank r sends (r + q) % 3 rows (some empty) of value 10r + q to rank q.
    auto rows = [](int from, int to) { return static_cast<int64_t>((from + to) % 3); };
    std::vector<int64_t> in_splits, out_splits;
    std::vector<at::Tensor> parts, want;
    for (int q = 0; q < w; ++q) {
      in_splits.push_back(rows(r, q));
      out_splits.push_back(rows(q, r));
      parts.push_back(at::full({rows(r, q), 2}, 10.0 * r + q, at::kDouble));
      want.push_back(at::full({rows(q, r), 2}, 10.0 * q + r, at::kDouble));
    }
    auto in = at::cat(parts).to(dt);
    auto out = at::empty({at::cat(want).size(0), 2}, in.options());
    comm::AllToAllOptions o;
    o.input_split_sizes = in_splits;
    o.output_split_sizes = out_splits;
    c->AllToAll(out, in, o)->Wait();
    ExpectEqual(out, at::cat(want), "all_to_all");
    // Same exchange when receivers don't know their counts.
    auto ex = comm::AllToAllExchange(*c, in, in_splits);
    EXPECT_EQ(ex.output_split_sizes, out_splits);
    ExpectEqual(ex.output, at::cat(want), "AllToAllExchange");
  });
}

TEST_P(CollectiveTest, AllToAllEvenAndBroadcastAndBarrier) {
  const auto [w, dt] = GetParam();
  RunOnRanks(w, [w, dt](const CommunicatorPtr& c) {
    const double r = c->rank();
    auto in = (at::arange(w, at::kDouble) + 10 * r).to(dt);  // element q goes to rank q
    auto out = at::empty_like(in);
    c->AllToAll(out, in)->Wait();
    ExpectEqual(out, at::arange(w, at::kDouble) * 10 + r, "all_to_all even");
    auto b = (c->rank() == 1 ? at::arange(5, at::kDouble) : at::zeros({5}, at::kDouble)).to(dt);
    c->Broadcast(b, {1})->Wait();
    ExpectEqual(b, at::arange(5, at::kDouble), "broadcast from rank 1");
    c->Barrier()->Wait();
  });
}

INSTANTIATE_TEST_SUITE_P(Worlds, CollectiveTest,
                         ::testing::Values(Case{2, at::kFloat}, Case{3, at::kFloat},
                                           Case{4, at::kFloat}, Case{2, at::kBFloat16},
                                           Case{3, at::kBFloat16}, Case{4, at::kBFloat16}),
                         [](const auto& info) {
                           return "w" + std::to_string(info.param.world) +
                                  (info.param.dtype == at::kFloat ? "_fp32" : "_bf16");
                         });

TEST(CommunicatorTest, AsyncWorkCompletesAndWaitIsIdempotent) {
  RunOnRanks(2, [](const CommunicatorPtr& c) {
    auto t = at::ones({1 << 16});
    auto work = c->AllReduce(t);
    work->Wait(std::chrono::seconds(30));
    EXPECT_TRUE(work->IsCompleted());
    EXPECT_EQ(work->Error(), nullptr);
    work->Wait();  // no second reduction
    EXPECT_EQ(t[0].item<float>(), 2.0f);
  });
}

TEST(CommunicatorTest, WaitTimesOutWhenAPeerNeverJoinsTheOp) {
  RunOnRanks(2, [](const CommunicatorPtr& c) {
    if (c->rank() == 0) {
      auto t = at::ones({4});
      auto work = c->AllReduce(t);
      EXPECT_THROW(work->Wait(std::chrono::milliseconds(300)), DistError);
      EXPECT_NE(work->Error(), nullptr);
    }
  }, std::chrono::seconds(2));
}

TEST(CommunicatorTest, BadArgumentsNameTheProblem) {
  RunOnRanks(2, [](const CommunicatorPtr& c) {
    auto in = at::ones({3});
    auto wrong = at::empty({5});
    try {
      c->AllGather(wrong, in);
      ADD_FAILURE() << "expected ConfigError";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("must hold size x input"), std::string::npos) << e.what();
    }
    comm::AllToAllOptions o;
    o.input_split_sizes = {1, 1};
    o.output_split_sizes = {1};
    auto out = at::empty({1});
    auto in2 = at::ones({2});
    EXPECT_THROW(c->AllToAll(out, in2, o), ConfigError);
    auto ints = at::ones({2}, at::kLong);
    EXPECT_THROW(c->AllReduce(ints, {comm::ReduceOp::kAvg}), ConfigError);
  });
}

TEST(CommunicatorTest, SplitMakesIndependentSubgroups) {
  RunOnRanks(4, [](const CommunicatorPtr& c) {
    // {0,2} and {1,3}
    std::vector<int> ranks = c->rank() % 2 == 0 ? std::vector<int>{0, 2} : std::vector<int>{1, 3};
    auto sub = c->Split(ranks, "parity");
    EXPECT_EQ(sub->size(), 2);
    EXPECT_EQ(sub->world_ranks(), ranks);
    auto t = at::full({1}, static_cast<float>(c->rank()));
    sub->AllReduce(t)->Wait();
    EXPECT_EQ(t.item<float>(), c->rank() % 2 == 0 ? 2.0f : 4.0f);
    EXPECT_THROW(c->Split({3, 2}, "unsorted"), ConfigError);
  });
}

}  // namespace
}  // namespace loom
