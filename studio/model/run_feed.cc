#include "studio/model/run_feed.h"

#include "studio/model/c_api.h"
#include "studio/model/ui_thread.h"

namespace loom::studio {

RunFeed::RunFeed(std::string store_path, std::string run, std::chrono::milliseconds period)
    : store_path_(std::move(store_path)), run_(std::move(run)), period_(period), worker_([this] { Run(); }) {}

RunFeed::~RunFeed() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

FeedSnapshot RunFeed::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

bool RunFeed::Ended() const { return ended_.load(); }

void RunFeed::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    lock.unlock();
    std::string error;
    try {
      PollOnce();
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    snapshot_.error = error;
    ++snapshot_.polls;
    wake_.wait_for(lock, period_, [this] { return stop_; });
  }
}

bool RunFeed::PollOnce() {
  NoteWorkerCall();
  if (!store_) {  // opened once it exists, then kept: a poll is two indexed reads, not an open
    loom_store* raw = nullptr;
    const loom_status opened = loom_store_open(&raw, store_path_.c_str());
    if (opened == LOOM_E_NOT_FOUND) return false;
    Check(opened, "loom_store_open");
    store_.reset(raw);
  }
  loom_store* store = store_.get();
  char* out = nullptr;
  const loom_status found = loom_store_get_run(store, run_.c_str(), &out);
  if (found == LOOM_E_NOT_FOUND) return false;
  Check(found, "loom_store_get_run");
  const nlohmann::json run = TakeJson(out);
  // The run's status first, then its rows: a run seen ended here has every row below.
  int64_t after_step = -1, after_event = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!snapshot_.steps.empty()) after_step = snapshot_.steps.back()["step"].get<int64_t>();
    if (!snapshot_.events.empty()) after_event = snapshot_.events.back()["id"].get<int64_t>();
  }
  const int64_t id = run["id"].get<int64_t>();
  Check(loom_store_read_steps(store, id, after_step, &out), "loom_store_read_steps");
  const nlohmann::json steps = TakeJson(out);
  Check(loom_store_read_events(store, id, after_event, &out), "loom_store_read_events");
  const nlohmann::json events = TakeJson(out);
  {
    std::lock_guard<std::mutex> lock(mu_);
    snapshot_.run = run;
    for (const auto& s : steps) snapshot_.steps.push_back(s);
    for (const auto& e : events) snapshot_.events.push_back(e);
  }
  if (run["status"] != "running") ended_ = true;
  return true;
}

}  // namespace loom::studio
