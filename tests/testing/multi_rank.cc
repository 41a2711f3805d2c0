#include "tests/testing/multi_rank.h"

#include <exception>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include "parallel/comm/c10d_communicator.h"

namespace loom::testing {

void RunOnRanks(int world_size, const RankBody& body, std::chrono::milliseconds timeout) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(world_size));
  for (int rank = 0; rank < world_size; ++rank) {
    threads.emplace_back([&, rank] {
      try {
        comm::CommOptions options;
        options.timeout = timeout;
        auto world = comm::C10dCommunicator::Create(store, rank, world_size, options);
        body(world);
      } catch (...) {
        errors[static_cast<size_t>(rank)] = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int rank = 0; rank < world_size; ++rank) {
    if (!errors[static_cast<size_t>(rank)]) continue;
    try {
      std::rethrow_exception(errors[static_cast<size_t>(rank)]);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "rank " << rank << " threw: " << e.what();
    }
  }
}

}  // namespace loom::testing
