#include "sdk/data/prefetch.h"

#include <chrono>

#include "ops/base/error.h"

namespace loom::data {

PrefetchStream::PrefetchStream(std::unique_ptr<BatchStream> inner, int depth) : inner_(std::move(inner)), depth_(depth) {
  if (depth_ < 1) throw ConfigError(ErrorWithFix("prefetch depth " + std::to_string(depth), "use 1 or more"));
  position_ = inner_->position();
  Start();
}

PrefetchStream::~PrefetchStream() { Stop(); }

void PrefetchStream::Start() {
  stop_ = false;
  inner_done_ = inner_->done();
  worker_ = std::thread([this] { Run(); });
}

void PrefetchStream::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void PrefetchStream::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || static_cast<int>(ready_.size()) < depth_; });
      if (stop_ || inner_done_ || error_) return;
    }
    try {
      PackedBatch b = inner_->Next();  // outside the lock: the slow part
      std::lock_guard<std::mutex> lock(mu_);
      ready_.push_back(std::move(b));
      inner_done_ = inner_->done();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
    }
    cv_.notify_all();
  }
}

PackedBatch PrefetchStream::Next() {
  const auto t0 = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return !ready_.empty() || error_ || inner_done_; });
  last_wait_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (ready_.empty()) {
    if (error_) std::rethrow_exception(error_);
    throw Error("PrefetchStream::Next: the stream has ended (check done())");
  }
  PackedBatch b = std::move(ready_.front());
  ready_.pop_front();
  ++position_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

bool PrefetchStream::done() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_.empty() && inner_done_ && !error_;
}

void PrefetchStream::Seek(int64_t position) {
  Stop();
  ready_.clear();
  error_ = nullptr;
  inner_->Seek(position);
  position_ = position;
  Start();
}

}  // namespace loom::data
