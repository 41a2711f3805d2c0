// PrefetchStream: runs another BatchStream on a background thread, up to
// `depth` micro-batches ahead, so decoding and processing media overlaps the
// training step. The batches and their order are the wrapped stream's
// (deterministic); position() counts the batches handed out, and Seek()
// drops what was prefetched and restarts there. Next() reports how long it
// waited (the step's data-wait time). An exception in the background is
// rethrown by the Next() that would have returned that batch.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

#include "sdk/data/batch.h"

namespace loom::data {

class PrefetchStream : public BatchStream {
 public:
  PrefetchStream(std::unique_ptr<BatchStream> inner, int depth);
  ~PrefetchStream() override;
  PrefetchStream(const PrefetchStream&) = delete;
  PrefetchStream& operator=(const PrefetchStream&) = delete;

  PackedBatch Next() override;
  bool done() const override;
  int64_t position() const override { return position_; }
  void Seek(int64_t position) override;
  // Seconds the last Next() waited for its batch (0 when it was ready).
  double last_wait_s() const { return last_wait_s_; }

 private:
  void Start();
  void Stop();
  void Run();

  std::unique_ptr<BatchStream> inner_;
  int depth_;
  int64_t position_ = 0;
  double last_wait_s_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PackedBatch> ready_;
  std::exception_ptr error_;
  bool inner_done_ = false;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace loom::data
