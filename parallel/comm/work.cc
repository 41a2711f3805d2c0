#include "parallel/comm/work.h"

#include "ops/base/error.h"

namespace loom::comm {

Work::Work(c10::intrusive_ptr<c10d::Work> work, std::string description,
           std::function<void()> finish)
    : work_(std::move(work)),
      description_(std::move(description)),
      finish_(std::move(finish)) {}

std::shared_ptr<Work> Work::Completed(std::string description,
                                      std::function<void()> finish) {
  return std::make_shared<Work>(c10::intrusive_ptr<c10d::Work>(),
                                std::move(description), std::move(finish));
}

bool Work::IsCompleted() {
  return finished_ || error_ || !work_ || work_->isCompleted();
}

void Work::Wait(std::chrono::milliseconds timeout) {
  if (finished_) return;
  if (error_) std::rethrow_exception(error_);
  try {
    if (work_) {
      // 0 (kNoTimeout) waits until the group's own timeout fails the op.
      work_->wait(timeout);
    }
  } catch (const std::exception& e) {
    const std::string what = e.what();
    const bool timed_out = what.find("imed out") != std::string::npos ||
                           what.find("imeout") != std::string::npos;
    const std::string msg = description_ + " failed: " + what;
    error_ = timed_out ? std::make_exception_ptr(DistTimeoutError(msg))
                       : std::make_exception_ptr(DistError(msg));
    std::rethrow_exception(error_);
  }
  if (finish_) finish_();
  finished_ = true;
}

}  // namespace loom::comm
