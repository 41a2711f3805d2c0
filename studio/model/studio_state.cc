#include "studio/model/studio_state.h"

#include <filesystem>

namespace loom::studio {
namespace {

std::string Quoted(const std::string& s) { return nlohmann::json(s).dump(); }

}  // namespace

StudioState::StudioState(nlohmann::json registry) : registry_(registry), composition_(std::move(registry)) {
  catalog_.SetStore(run_.store);
}

std::string StudioState::TrainYaml(const std::string& config_json_path) const {
  const RunSettings& r = run_;
  std::string rest;
  rest += "data:\n  train: " + Quoted(r.data_train) + "\n  seq_len: " + std::to_string(r.seq_len) +
          "\n  micro_batch_size: " + std::to_string(r.micro_batch_size) + "\n";
  rest += "train:\n  steps: " + std::to_string(r.steps) + "\n  lr: " + nlohmann::json(r.lr).dump() +
          "\n  warmup_steps: 1\n  log_every: 1\n  eval_every: 0\n  checkpoint_every: " +
          std::to_string(r.checkpoint_every) + "\n  dtype: " + r.dtype + "\n";
  rest += "run:\n  name: " + Quoted(r.name) + "\n  dir: " + Quoted(r.runs_dir) + "\n  db: " + Quoted(r.store) + "\n";
  return composition_.TrainYaml(config_json_path, rest);
}

void StudioState::RequestPlanCheckIfChanged() {
  catalog_.SetStore(run_.store);
  std::string yaml;
  if (!composition_.Problems().empty()) return;  // the composer shows those
  try {
    const std::string config_path = std::filesystem::absolute(RunFolder() + "/config.json").string();
    // The checker parses the composed config.json from the request, not from disk:
    // it is inlined as model.* keys would be; the file is written only at launch.
    yaml = TrainYaml(config_path);
    const std::string key = yaml + "\n#world " + std::to_string(world_) + "\n" + composition_.ModelConfig().dump();
    if (key == last_checked_) return;
    last_checked_ = key;
    last_request_ = checker_.Request({yaml, {}, world_, composition_.ModelConfig()});
  } catch (const std::exception&) {
    // Problems() was empty: ModelConfig cannot throw; nothing to check otherwise.
  }
}

bool StudioState::plan_pending() const {
  const auto latest = checker_.Latest();
  return !latest || latest->request < last_request_;
}

std::vector<std::string> StudioState::ErrorsAt(const std::string& key) const {
  std::vector<std::string> out;
  const auto latest = checker_.Latest();
  if (!latest) return out;
  for (const auto& e : latest->errors)
    for (const auto& k : e.keys)
      if (k == key) {
        out.push_back(e.message);
        break;
      }
  return out;
}

std::string StudioState::Launch() {
  const auto problems = composition_.Problems();
  if (!problems.empty()) return "cannot launch: " + problems.front();
  const auto latest = checker_.Latest();
  if (!latest || latest->request < last_request_) return "cannot launch yet: the plan is being checked";
  if (!latest->valid) return "cannot launch: the plan is invalid (" + (latest->errors.empty() ? std::string("?") : latest->errors.front().message) + ")";
  if (run_.data_train.empty()) return "cannot launch: set data.train to a dataset built by `loom data build`";
  const auto st = launcher_.State();
  if (st.phase == LaunchState::Phase::kRunning || st.phase == LaunchState::Phase::kStarting ||
      st.phase == LaunchState::Phase::kStopping)
    return "cannot launch: a run is still going; stop it first";
  const std::string folder = std::filesystem::absolute(RunFolder()).string();
  LaunchSpec spec;
  spec.folder = folder;
  spec.model_config_json = composition_.ModelConfig().dump(2);
  spec.train_yaml = TrainYaml(folder + "/config.json");
  spec.nproc = static_cast<int32_t>(world_);
  launcher_.Start(std::move(spec));
  return "";
}

RunFeed& StudioState::Feed(int64_t run_id) {
  const std::string key = run_.store + "|" + std::to_string(run_id);
  auto& feed = feeds_[key];
  if (!feed) feed = std::make_unique<RunFeed>(run_.store, std::to_string(run_id), std::chrono::milliseconds(100));
  return *feed;
}

RunFeed* StudioState::LaunchedFeed() {
  const auto st = launcher_.State();
  if (st.launches == 0) return nullptr;
  if (st.launches != launched_seen_) {
    // A new launch (or a resume, which re-logs steps after its checkpoint): a fresh feed.
    launched_seen_ = st.launches;
    launched_feed_ = run_.store + "|name:" + run_.name + "#" + std::to_string(st.launches);
    feeds_[launched_feed_] = std::make_unique<RunFeed>(run_.store, run_.name, std::chrono::milliseconds(100));
  }
  return feeds_[launched_feed_].get();
}

}  // namespace loom::studio
