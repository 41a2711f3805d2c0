// An asynchronous collective in flight.
//
// Every Communicator operation returns a Work. Results in the output tensor
// are valid only after Wait() returns. Wait rethrows the failure of the
// collective (peer died, timeout) as a loom::DistError naming the op, the
// group and the rank; Error() reports it without throwing.
#pragma once

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include <torch/csrc/distributed/c10d/Work.hpp>

namespace loom::comm {

class Work {
 public:
  // Wraps a c10d work. `finish` runs once, after the collective completes
  // successfully, on the thread that calls Wait (e.g. divide for an average).
  Work(c10::intrusive_ptr<c10d::Work> work, std::string description,
       std::function<void()> finish = {});

  // A work that is already complete (world of one, empty tensors).
  static std::shared_ptr<Work> Completed(std::string description,
                                         std::function<void()> finish = {});

  // True once the collective has finished, successfully or not. Never blocks.
  bool IsCompleted();

  // Blocks until completion or `timeout`. Throws DistTimeoutError on timeout
  // and DistError on failure. Calling Wait again after success is a no-op.
  void Wait(std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());

  // The failure, if the collective failed (nullptr otherwise or if pending).
  std::exception_ptr Error() const { return error_; }

  const std::string& description() const { return description_; }

 private:
  c10::intrusive_ptr<c10d::Work> work_;
  std::string description_;
  std::function<void()> finish_;
  bool finished_ = false;
  std::exception_ptr error_;
};

using WorkPtr = std::shared_ptr<Work>;

}  // namespace loom::comm
