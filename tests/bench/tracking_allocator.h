// A CPU allocator that counts every byte LibTorch allocates in this process
// (live and peak), for memory benchmarks.
#pragma once

#include <cstring>
#include <mutex>
#include <unordered_map>

#include <c10/core/CPUAllocator.h>

namespace loom::bench {

// Wraps the default CPU allocator and tracks live and peak bytes.
class TrackingAllocator final : public c10::Allocator {
 public:
  explicit TrackingAllocator(c10::Allocator* base) : base_(base) {}
  c10::DataPtr allocate(size_t n) override {
    auto inner = base_->allocate(n);
    void* ptr = inner.get();
    {
      std::lock_guard<std::mutex> lock(mu_);
      owned_[ptr] = Held{std::move(inner), n};
      live_ += static_cast<int64_t>(n);
      peak_ = std::max(peak_, live_);
    }
    return {ptr, ptr, &TrackingAllocator::Free, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void copy_data(void* dest, const void* src, std::size_t count) const override { std::memcpy(dest, src, count); }
  int64_t live() const { std::lock_guard<std::mutex> l(mu_); return live_; }
  int64_t peak() const { std::lock_guard<std::mutex> l(mu_); return peak_; }
  void ResetPeak() { std::lock_guard<std::mutex> l(mu_); peak_ = live_; }
  static TrackingAllocator* instance;
  // Makes a tracker the process's CPU allocator (call first thing in main).
  static TrackingAllocator* Install() {
    instance = new TrackingAllocator(c10::GetDefaultCPUAllocator());
    c10::SetCPUAllocator(instance, /*priority=*/100);
    return instance;
  }

 private:
  struct Held {
    c10::DataPtr ptr;
    size_t bytes;
  };
  static void Free(void* ptr) {
    auto* self = instance;
    std::lock_guard<std::mutex> lock(self->mu_);
    auto it = self->owned_.find(ptr);
    if (it == self->owned_.end()) return;
    self->live_ -= static_cast<int64_t>(it->second.bytes);
    self->owned_.erase(it);  // releases the base allocation
  }
  c10::Allocator* base_;
  mutable std::mutex mu_;
  std::unordered_map<void*, Held> owned_;
  int64_t live_ = 0, peak_ = 0;
};
inline TrackingAllocator* TrackingAllocator::instance = nullptr;

// Tracks the process's CPU allocations for one scope of a test, then puts the
// default allocator back (the tracker has no raw deleter, which oneDNN's bf16
// kernels need, so tests keep it installed only while they measure). Tensors
// allocated meanwhile free through the tracker whenever they die.
class ScopedTracking {
 public:
  ScopedTracking() {
    tracker_ = TrackingAllocator::instance;
    if (tracker_) {
      c10::SetCPUAllocator(tracker_, /*priority=*/100);
    } else {
      tracker_ = TrackingAllocator::Install();
    }
  }
  ~ScopedTracking() { c10::SetCPUAllocator(c10::GetDefaultCPUAllocator(), /*priority=*/100); }
  ScopedTracking(const ScopedTracking&) = delete;
  ScopedTracking& operator=(const ScopedTracking&) = delete;
  TrackingAllocator* operator->() const { return tracker_; }

 private:
  TrackingAllocator* tracker_;
};

}  // namespace loom::bench
