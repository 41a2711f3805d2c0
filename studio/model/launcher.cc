#include "studio/model/launcher.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "loom/loom.h"
#include "studio/model/c_api.h"
#include "studio/model/ui_thread.h"

namespace loom::studio {
namespace {

void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw std::runtime_error("cannot write " + path.string() + "; check the folder's permissions and free space");
}

}  // namespace

const char* PhaseName(LaunchState::Phase phase) {
  switch (phase) {
    case LaunchState::Phase::kIdle: return "idle";
    case LaunchState::Phase::kStarting: return "starting";
    case LaunchState::Phase::kRunning: return "running";
    case LaunchState::Phase::kStopping: return "stopping";
    case LaunchState::Phase::kEnded: return "ended";
    case LaunchState::Phase::kFailed: return "failed";
  }
  return "?";
}

Launcher::Launcher() : worker_([this] { Run(); }) {}

Launcher::~Launcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    quit_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void Launcher::Start(LaunchSpec spec) {
  std::lock_guard<std::mutex> lock(mu_);
  state_.phase = LaunchState::Phase::kStarting;
  state_.error.clear();
  commands_.emplace_back(Command::kStart, std::move(spec));
  wake_.notify_all();
}

void Launcher::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_.phase == LaunchState::Phase::kRunning) state_.phase = LaunchState::Phase::kStopping;
  commands_.emplace_back(Command::kStop, LaunchSpec{});
  wake_.notify_all();
}

void Launcher::Resume() {
  std::lock_guard<std::mutex> lock(mu_);
  state_.phase = LaunchState::Phase::kStarting;
  state_.error.clear();
  commands_.emplace_back(Command::kResume, LaunchSpec{});
  wake_.notify_all();
}

LaunchState Launcher::State() const {
  std::lock_guard<std::mutex> lock(mu_);
  return state_;
}

void Launcher::Run() {
  NoteWorkerCall();
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait_for(lock, std::chrono::milliseconds(50), [&] { return quit_ || !commands_.empty(); });
    if (quit_) break;
    while (!commands_.empty()) {
      auto [command, spec] = std::move(commands_.front());
      commands_.pop_front();
      lock.unlock();
      try {
        if (command == Command::kStop) {
          if (job_) Check(loom_launch_stop(job_), "loom_launch_stop");
        } else {
          if (command == Command::kResume) {
            std::lock_guard<std::mutex> l(mu_);
            if (state_.launches == 0) throw std::invalid_argument("nothing to resume: launch a run first");
            spec = state_.spec;
            spec.overrides.push_back("--train.resume=latest");
          }
          DoStart(std::move(spec));
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> l(mu_);
        state_.phase = LaunchState::Phase::kFailed;
        state_.error = e.what();
      }
      lock.lock();
    }
    lock.unlock();
    PollJob();
    lock.lock();
  }
  lock.unlock();
  if (job_) loom_launch_destroy(job_);  // stops the ranks and joins
}

void Launcher::DoStart(LaunchSpec spec) {
  NoteWorkerCall();
  if (job_) {
    loom_launch_state s = LOOM_LAUNCH_STATE_INIT;
    Check(loom_launch_poll(job_, &s), "loom_launch_poll");
    if (s.running) throw std::invalid_argument("a run is still going; stop it before launching another");
    loom_launch_destroy(job_);
    job_ = nullptr;
  }
  const std::filesystem::path folder(spec.folder);
  std::filesystem::create_directories(folder);
  if (!spec.model_config_json.empty()) WriteFile(folder / "config.json", spec.model_config_json);
  WriteFile(folder / "train.yaml", spec.train_yaml);
  const std::string config = (folder / "train.yaml").string();
  const std::string log = (folder / "launch.log").string();
  std::vector<const char*> overrides;
  for (const auto& o : spec.overrides) overrides.push_back(o.c_str());
  loom_launch_options options = loom_launch_options_default();
  options.nproc = spec.nproc;
  options.config_path = config.c_str();
  options.overrides = overrides.data();
  options.n_overrides = overrides.size();
  options.log_path = log.c_str();
  loom_launch* job = nullptr;
  Check(loom_launch_start(&job, &options), "loom_launch_start");
  job_ = job;
  std::lock_guard<std::mutex> lock(mu_);
  state_.phase = LaunchState::Phase::kRunning;
  state_.exit_code = 0;
  state_.restarts = 0;
  ++state_.launches;
  state_.spec = std::move(spec);
  // The resume override is the command's, not the spec's: a second resume adds it once.
  auto& o = state_.spec.overrides;
  o.erase(std::remove(o.begin(), o.end(), std::string("--train.resume=latest")), o.end());
}

void Launcher::PollJob() {
  if (!job_) return;
  loom_launch_state s = LOOM_LAUNCH_STATE_INIT;
  if (loom_launch_poll(job_, &s) != LOOM_OK) return;
  std::lock_guard<std::mutex> lock(mu_);
  state_.restarts = s.restarts;
  if (!s.running && (state_.phase == LaunchState::Phase::kRunning || state_.phase == LaunchState::Phase::kStopping)) {
    state_.phase = LaunchState::Phase::kEnded;
    state_.exit_code = s.exit_code;
  }
}

}  // namespace loom::studio
