#include "sdk/train/trainer_observers.h"

#include <iostream>

namespace loom::train {

ConsoleObserver::ConsoleObserver(std::ostream& out, int64_t total_steps, int64_t log_every)
    : out_(out), total_(total_steps), log_every_(log_every) {
  if (&out == &std::cout) {
    progress_ = std::make_unique<metrics::ProgressLine>(total_);
  } else {
    progress_ = std::make_unique<metrics::ProgressLine>(total_, out, metrics::ProgressLine::Options{});
  }
}

void ConsoleObserver::OnStep(const metrics::StepMetrics& m) {
  if (log_every_ > 0 && (m.step % log_every_ == 0 || m.step + 1 == total_)) progress_->Update(m);
}

void ConsoleObserver::OnLog(const std::string& line) {
  progress_->Finish();
  out_ << line << "\n";
}

void ConsoleObserver::OnFinish(metrics::RunStatus status, const std::string& error) {
  progress_->Finish();
  if (status == metrics::RunStatus::kCancelled) out_ << "loom train: cancelled\n";
  (void)error;
}

}  // namespace loom::train
