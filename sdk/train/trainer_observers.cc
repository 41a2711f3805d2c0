#include "sdk/train/trainer_observers.h"

#include <algorithm>
#include <chrono>
#include <iostream>

namespace loom::train {

RunStoreObserver::RunStoreObserver(std::shared_ptr<metrics::RunStore> store, int64_t run_id, double heartbeat_s)
    : store_(std::move(store)), run_id_(run_id) {
  const auto period = std::chrono::milliseconds(std::max<int64_t>(50, static_cast<int64_t>(heartbeat_s * 1000)));
  heartbeat_ = std::thread([this, period] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!wake_.wait_for(lock, period, [this] { return stop_; })) {
      try {
        store_->Heartbeat(run_id_);
      } catch (...) {  // a busy store skips a beat; the bound allows several
      }
    }
  });
}

RunStoreObserver::~RunStoreObserver() { StopHeartbeat(); }

void RunStoreObserver::StopHeartbeat() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (heartbeat_.joinable()) heartbeat_.join();
}

void RunStoreObserver::OnFinish(metrics::RunStatus status, const std::string& error) {
  StopHeartbeat();
  store_->FinishRun(run_id_, status, error);
}

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
