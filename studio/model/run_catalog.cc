#include "studio/model/run_catalog.h"

#include <filesystem>

#include "studio/model/c_api.h"
#include "studio/model/ui_thread.h"

namespace loom::studio {

RunCatalog::RunCatalog(std::chrono::milliseconds period) : period_(period), worker_([this] { Run(); }) {}

RunCatalog::~RunCatalog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void RunCatalog::SetStore(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  if (snapshot_.store_path == path) return;
  snapshot_.store_path = path;
  snapshot_.runs.clear();
  snapshot_.error.clear();
  changed_ = true;
  wake_.notify_all();
}

CatalogSnapshot RunCatalog::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void RunCatalog::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const std::string path = snapshot_.store_path;
    changed_ = false;
    lock.unlock();
    if (!path.empty()) ReadOnce(path);
    lock.lock();
    wake_.wait_for(lock, period_, [&] { return stop_ || changed_; });
  }
}

void RunCatalog::ReadOnce(const std::string& path) {
  NoteWorkerCall();
  std::vector<nlohmann::json> runs;
  std::string error;
  if (std::filesystem::exists(path)) {
    try {
      loom_store* raw = nullptr;
      Check(loom_store_open(&raw, path.c_str()), "loom_store_open");
      StorePtr store(raw);
      char* out = nullptr;
      Check(loom_store_list_runs(store.get(), &out), "loom_store_list_runs");
      for (auto& r : TakeJson(out)) runs.push_back(std::move(r));
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (snapshot_.store_path != path) return;  // changed while reading
  snapshot_.runs = std::move(runs);
  snapshot_.error = std::move(error);
  ++snapshot_.reads;
}

}  // namespace loom::studio
