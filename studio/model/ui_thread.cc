#include "studio/model/ui_thread.h"

#include <atomic>
#include <thread>

namespace loom::studio {
namespace {
std::atomic<std::thread::id> ui_thread{};
std::atomic<int64_t> blocking_calls{0};
}  // namespace

void MarkUiThread() { ui_thread = std::this_thread::get_id(); }

void NoteWorkerCall() {
  if (std::this_thread::get_id() == ui_thread.load()) ++blocking_calls;
}

int64_t UiThreadBlockingCalls() { return blocking_calls.load(); }

}  // namespace loom::studio
