// The comm-check suite itself: correct on real ranks, and it notices a
// broken backend (a communicator that corrupts one all_reduce).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "sdk/diagnostics/comm_check.h"
#include "tests/testing/multi_rank.h"

namespace loom::diagnostics {
namespace {

TEST(CommCheckTest, EveryOpCorrectOnThreeRanks) {
  testing::RunOnRanks(3, [](const comm::CommunicatorPtr& c) {
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      CommCheckOptions o;
      o.bytes = 3000;
      o.iters = 1;
      o.dtype = dtype;
      const auto results = RunCommCheck(*c, o);
      EXPECT_EQ(results.size(), 9u);
      for (const auto& r : results) EXPECT_TRUE(r.ok) << r.op << ": " << r.error;
    }
  });
}

// Forwards to a real communicator but adds 1 to every all_reduce result.
class CorruptingCommunicator : public comm::Communicator {
 public:
  explicit CorruptingCommunicator(comm::CommunicatorPtr inner)
      : Communicator(inner->rank(), inner->size(), "corrupt", inner->world_ranks()),
        inner_(std::move(inner)) {}
  comm::WorkPtr AllReduce(at::Tensor& t, const comm::AllReduceOptions& o) override {
    inner_->AllReduce(t, o)->Wait();
    t.add_(1);
    return comm::Work::Completed("corrupt all_reduce");
  }
  comm::WorkPtr AllGather(at::Tensor& out, const at::Tensor& in) override {
    return inner_->AllGather(out, in);
  }
  comm::WorkPtr ReduceScatter(at::Tensor& out, const at::Tensor& in,
                              const comm::ReduceScatterOptions& o) override {
    return inner_->ReduceScatter(out, in, o);
  }
  comm::WorkPtr AllToAll(at::Tensor& out, const at::Tensor& in,
                         const comm::AllToAllOptions& o) override {
    return inner_->AllToAll(out, in, o);
  }
  comm::WorkPtr Broadcast(at::Tensor& t, const comm::BroadcastOptions& o) override {
    return inner_->Broadcast(t, o);
  }
  comm::WorkPtr Barrier() override { return inner_->Barrier(); }
  comm::CommunicatorPtr Split(const std::vector<int>& r, const std::string& n) override {
    return inner_->Split(r, n);
  }

 private:
  comm::CommunicatorPtr inner_;
};

TEST(CommCheckTest, WrongResultsAreReported) {
  testing::RunOnRanks(2, [](const comm::CommunicatorPtr& c) {
    CorruptingCommunicator bad(c);
    CommCheckOptions o;
    o.bytes = 256;
    o.iters = 1;
    const auto results = RunCommCheck(bad, o);
    int wrong = 0;
    for (const auto& r : results) {
      if (r.op.rfind("all_reduce", 0) == 0) {
        EXPECT_FALSE(r.ok) << r.op;
        EXPECT_NE(r.error.find("expected"), std::string::npos) << r.error;
      } else {
        EXPECT_TRUE(r.ok) << r.op;
      }
      wrong += !r.ok;
    }
    EXPECT_EQ(wrong, 3);
  });
}

}  // namespace
}  // namespace loom::diagnostics
