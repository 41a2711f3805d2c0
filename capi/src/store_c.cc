// The C ABI shim: read-only run-store access (sdk/metrics/run_store.h) and
// the launcher (sdk/runtime/launcher.h) run on a library thread.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "capi/src/api_guard.h"
#include "capi/src/handles.h"
#include "sdk/metrics/format.h"
#include "sdk/runtime/launcher.h"

using loom::capi::Live;
using loom::capi::Utf8Arg;
using loom::capi::Utf8Args;

namespace {

constexpr const char* kStoreMaker = "loom_store_open";
constexpr const char* kLaunchMaker = "loom_launch_start";

// The `loom` executable: $LOOM_EXECUTABLE, else beside this library (an
// install tree's bin/, or the build tree's root one level up).
std::string LoomExecutable() {
  if (const char* env = std::getenv("LOOM_EXECUTABLE"); env && *env) return env;
  Dl_info info{};
  std::vector<std::filesystem::path> tried;
  if (::dladdr(reinterpret_cast<void*>(&loom_version), &info) && info.dli_fname) {
    const auto dir = std::filesystem::absolute(info.dli_fname).parent_path();
    for (const auto& candidate : {dir.parent_path() / "bin" / "loom", dir.parent_path() / "loom", dir / "loom"}) {
      if (::access(candidate.c_str(), X_OK) == 0) return candidate.string();
      tried.push_back(candidate);
    }
  }
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t.string();
  throw loom::capi::NotFoundError("no `loom` executable beside libloom (tried " + list +
                                  "); set LOOM_EXECUTABLE to its path, or pass argv");
}

}  // namespace

extern "C" {

loom_status loom_store_open(loom_store** out_store, const char* path) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_store, "out_store");
  const std::string file = Utf8Arg(path, "path");
  if (!std::filesystem::exists(file)) {
    throw loom::capi::NotFoundError("run store '" + file + "' does not exist; a run creates it (run.dir/run.store, default runs/loom.sqlite)");
  }
  auto h = std::make_unique<loom_store>();
  h->store = std::make_unique<loom::metrics::RunStore>(file, loom::metrics::RunStore::Mode::kReadOnly);
  loom::capi::RegisterHandle(h.get(), "loom_store");
  *out_store = h.release();
  LOOM_API_END
}

loom_status loom_store_list_runs(loom_store* store, char** out_json) {
  LOOM_API_BEGIN
  auto& s = Live(store, "loom_store", kStoreMaker);
  loom::capi::CheckOut(out_json, "out_json");
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& r : s.store->ListRuns()) runs.push_back(loom::metrics::RunToJson(r));
  loom::capi::ReturnString(out_json, runs.dump(), "out_json");
  LOOM_API_END
}

loom_status loom_store_get_run(loom_store* store, const char* id_or_name, char** out_json) {
  LOOM_API_BEGIN
  auto& s = Live(store, "loom_store", kStoreMaker);
  const std::string which = Utf8Arg(id_or_name, "id_or_name");
  loom::capi::CheckOut(out_json, "out_json");
  loom::metrics::RunInfo run;
  try {
    run = s.store->GetRun(which);
  } catch (const loom::ConfigError& e) {
    throw loom::capi::NotFoundError(e.what());
  }
  loom::capi::ReturnString(out_json, loom::metrics::RunToJson(run, /*with_config=*/true).dump(), "out_json");
  LOOM_API_END
}

loom_status loom_store_read_steps(loom_store* store, int64_t run_id, int64_t after_step, char** out_json) {
  LOOM_API_BEGIN
  auto& s = Live(store, "loom_store", kStoreMaker);
  loom::capi::CheckOut(out_json, "out_json");
  loom::capi::ReturnString(out_json, loom::metrics::StepsToJson(s.store->GetSteps(run_id, after_step)).dump(), "out_json");
  LOOM_API_END
}

loom_status loom_store_read_events(loom_store* store, int64_t run_id, int64_t after_id, char** out_json) {
  LOOM_API_BEGIN
  auto& s = Live(store, "loom_store", kStoreMaker);
  loom::capi::CheckOut(out_json, "out_json");
  loom::capi::ReturnString(out_json, loom::metrics::EventsToJson(s.store->GetEvents(run_id, after_id)).dump(), "out_json");
  LOOM_API_END
}

void loom_store_destroy(loom_store* store) {
  LOOM_API_VOID_BEGIN
  loom::capi::DestroyHandle(store, "loom_store", kStoreMaker);
  LOOM_API_VOID_END
}

loom_launch_options loom_launch_options_default(void) { return LOOM_LAUNCH_OPTIONS_INIT; }

loom_status loom_launch_start(loom_launch** out_launch, const loom_launch_options* options) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_launch, "out_launch");
  if (!options) throw loom::ConfigError("options is NULL; pass a loom_launch_options with argv or config_path set");
  const auto o = loom::capi::ReadOptions(options, loom_launch_options_default(), "loom_launch_options");
  loom::runtime::LaunchOptions launch;
  launch.nproc = o.nproc;
  if (o.argc > 0) {
    launch.command = Utf8Args(o.argv, o.argc, "loom_launch_options.argv");
  } else {
    const std::string config = Utf8Arg(o.config_path, "loom_launch_options.config_path (or argv)");
    if (!std::filesystem::exists(config)) throw loom::capi::NotFoundError("config file '" + config + "' does not exist; pass an existing YAML config");
    launch.command = {LoomExecutable(), "train", config};
    for (auto& token : Utf8Args(o.overrides, o.n_overrides, "loom_launch_options.overrides")) launch.command.push_back(token);
  }
  if (o.nproc < 1) throw loom::ConfigError("loom_launch_options.nproc is " + std::to_string(o.nproc) + "; pass 1 or more ranks");
  if (o.max_restarts < 0) throw loom::ConfigError("loom_launch_options.max_restarts is negative; pass 0 or more");
  if (o.hang_timeout_ms < 0 || o.kill_grace_ms < 0) throw loom::ConfigError("loom_launch_options: hang_timeout_ms and kill_grace_ms must be >= 0");
  launch.max_restarts = o.max_restarts;
  launch.hang_timeout = std::chrono::milliseconds(o.hang_timeout_ms);
  launch.kill_grace = std::chrono::milliseconds(o.kill_grace_ms);
  launch.handle_signals = false;  // the host's handlers are its own
  auto h = std::make_unique<loom_launch>();
  const std::string log = Utf8Arg(o.log_path, "loom_launch_options.log_path", /*nullptr_ok=*/true);
  if (!log.empty()) {
    h->log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (h->log_fd < 0) throw loom::ConfigError("cannot open log_path '" + log + "' for appending; pass a writable file path");
    launch.stdout_fd = launch.stderr_fd = h->log_fd;
  }
  launch.stop = &h->stop;
  launch.restarts = &h->restarts;
  loom_launch* raw = h.get();
  raw->thread = std::thread([raw, launch] {
    int code = 1;
    try {
      code = loom::runtime::Launch(launch);
    } catch (const std::exception& e) {
      const std::string msg = std::string("loom launch: ") + e.what() + "\n";
      ssize_t ignored = ::write(launch.stderr_fd, msg.data(), msg.size());
      (void)ignored;
    }
    std::lock_guard<std::mutex> lock(raw->mu);
    raw->ended = true;
    raw->exit_code = code;
    raw->ended_cv.notify_all();
  });
  loom::capi::RegisterHandle(raw, "loom_launch");
  *out_launch = h.release();
  LOOM_API_END
}

loom_status loom_launch_poll(loom_launch* launch, loom_launch_state* out_state) {
  LOOM_API_BEGIN
  auto& l = Live(launch, "loom_launch", kLaunchMaker);
  std::lock_guard<std::mutex> lock(l.mu);
  loom::capi::WriteState(out_state, loom_launch_state{sizeof(loom_launch_state), l.ended ? 0 : 1, l.ended ? l.exit_code : 0, l.restarts.load()},
                         "loom_launch_state");
  LOOM_API_END
}

loom_status loom_launch_wait(loom_launch* launch, int64_t timeout_ms, int32_t* out_exit_code) {
  LOOM_API_BEGIN
  auto& l = Live(launch, "loom_launch", kLaunchMaker);
  loom::capi::CheckOut(out_exit_code, "out_exit_code");
  std::unique_lock<std::mutex> lock(l.mu);
  if (timeout_ms < 0) {
    l.ended_cv.wait(lock, [&] { return l.ended; });
  } else if (!l.ended_cv.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] { return l.ended; })) {
    throw loom::capi::TimeoutError("the job still runs after " + std::to_string(timeout_ms) + " ms; wait again, or loom_launch_stop it");
  }
  *out_exit_code = l.exit_code;
  LOOM_API_END
}

loom_status loom_launch_stop(loom_launch* launch) {
  LOOM_API_BEGIN
  Live(launch, "loom_launch", kLaunchMaker).stop = true;
  LOOM_API_END
}

void loom_launch_destroy(loom_launch* launch) {
  LOOM_API_VOID_BEGIN
  if (!launch) return;
  Live(launch, "loom_launch", kLaunchMaker);
  loom::capi::UnregisterHandle(launch);
  launch->stop = true;
  if (launch->thread.joinable()) launch->thread.join();
  if (launch->log_fd >= 0) ::close(launch->log_fd);
  delete launch;
  LOOM_API_VOID_END
}

}  // extern "C"
