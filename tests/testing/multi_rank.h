// Runs a test body on N ranks: N threads in this process, each a member of a
// real Gloo group (loopback TCP) rendezvoused through an in-memory HashStore.
// gtest assertions inside the body are thread-safe; an exception escaping a
// rank is reported as a test failure naming the rank.
#pragma once

#include <chrono>
#include <functional>

#include "parallel/comm/communicator.h"

namespace loom::testing {

using RankBody = std::function<void(const comm::CommunicatorPtr& world)>;

void RunOnRanks(int world_size, const RankBody& body,
                std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace loom::testing
