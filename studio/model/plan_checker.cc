#include "studio/model/plan_checker.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "studio/model/c_api.h"
#include "studio/model/ui_thread.h"

namespace loom::studio {

namespace {

std::string ScratchPath(const void* owner) {
  char name[64];
  std::snprintf(name, sizeof(name), "loom-studio-plan-%d-%p.json", static_cast<int>(::getpid()), owner);
  return (std::filesystem::temp_directory_path() / name).string();
}

}  // namespace

PlanChecker::PlanChecker() : scratch_(ScratchPath(this)), worker_([this] { Run(); }) {}

PlanChecker::~PlanChecker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
  std::error_code ec;
  std::filesystem::remove(scratch_, ec);
}

uint64_t PlanChecker::Request(PlanRequest request) {
  std::lock_guard<std::mutex> lock(mu_);
  pending_.emplace(++next_, std::move(request));
  cv_.notify_all();
  return next_;
}

std::optional<PlanResult> PlanChecker::Latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

uint64_t PlanChecker::LatestRequest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_ ? latest_->request : 0;
}

PlanResult PlanChecker::WaitFor(uint64_t request) const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return latest_ && latest_->request >= request; });
  return *latest_;
}

int64_t PlanChecker::checks_run() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checks_run_;
}

void PlanChecker::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || pending_; });
    if (stop_) return;
    auto [id, request] = std::move(*pending_);
    pending_.reset();
    lock.unlock();
    PlanResult result;
    try {
      result = Evaluate(request);
    } catch (const std::exception& e) {  // e.g. a bad override token: shown like any error
      result = PlanResult{};
      result.errors.push_back({e.what(), {}});
    }
    result.request = id;
    lock.lock();
    ++checks_run_;
    latest_ = std::move(result);
    cv_.notify_all();
  }
}

PlanResult PlanChecker::Evaluate(const PlanRequest& r) const {
  NoteWorkerCall();
  PlanResult result;
  std::vector<std::string> overrides = r.overrides;
  if (!r.model_config.is_null()) {
    std::ofstream out(scratch_, std::ios::trunc);
    out << r.model_config.dump(2);
    if (!out.flush()) throw std::runtime_error("cannot write the plan check's scratch file " + scratch_ + "; check the temp folder");
    overrides.push_back("--model.config=" + scratch_);
  }
  std::vector<const char*> tokens;
  for (const auto& t : overrides) tokens.push_back(t.c_str());
  const auto errors_of = [&](const nlohmann::json& errors) {
    for (const auto& e : errors) result.errors.push_back({e["message"], e["keys"].get<std::vector<std::string>>()});
  };
  char* out = nullptr;
  Check(loom_config_check(&out, r.yaml.c_str(), "studio", tokens.data(), tokens.size()), "loom_config_check");
  const nlohmann::json config = TakeJson(out);
  if (!config["valid"].get<bool>()) {
    errors_of(config["errors"]);
    result.report = config;
    return result;
  }
  loom_config* raw = nullptr;
  Check(loom_config_parse(&raw, r.yaml.c_str(), "studio", tokens.data(), tokens.size()), "loom_config_parse");
  ConfigPtr cfg(raw);
  loom_plan_options options = loom_plan_options_default();
  options.world = r.world;
  Check(loom_plan_check(cfg.get(), &options, &out), "loom_plan_check");
  result.report = TakeJson(out);
  result.valid = result.report["valid"].get<bool>();
  if (!result.valid) errors_of(result.report["errors"]);
  return result;
}

}  // namespace loom::studio
