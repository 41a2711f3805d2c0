#include "studio/model/studio_state.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "studio/model/c_api.h"
#include "studio/model/ui_thread.h"

namespace loom::studio {
namespace {

std::string Quoted(const std::string& s) { return nlohmann::json(s).dump(); }

template <typename T>
void SetFrom(const nlohmann::json& section, const char* key, T& out) {
  if (section.is_object() && section.contains(key) && !section.at(key).is_null()) out = section.at(key).get<T>();
}

}  // namespace

void StudioState::Save(const std::string& folder) {
  const std::string dir = std::filesystem::absolute(folder).lexically_normal().string();
  writer_.WriteText(dir + "/config.json", composition_.ModelConfig().dump(2));  // throws listing Problems()
  writer_.WriteText(dir + "/train.yaml", TrainYaml(dir + "/config.json"));
}

void StudioState::Open(const std::string& yaml_path) {
  opening_ = std::async(std::launch::async, [yaml_path] {
    NoteWorkerCall();
    Opened o;
    o.path = yaml_path;
    try {
      loom_config* raw = nullptr;
      Check(loom_config_load(&raw, yaml_path.c_str(), nullptr, 0), "loom_config_load");
      ConfigPtr cfg(raw);
      char* out = nullptr;
      Check(loom_config_to_json(cfg.get(), &out), "loom_config_to_json");
      o.resolved = TakeJson(out);
      const std::string model = o.resolved["model"].value("config", "");
      if (model.empty()) throw std::invalid_argument("it names no model.config (a config.json): the composer opens YAMLs it saved");
      std::ifstream in(model);
      if (!in) throw std::invalid_argument("its model.config " + model + " cannot be read");
      o.model_config = nlohmann::json::parse(in);
      o.components = o.resolved.value("components", nlohmann::json::object());
    } catch (const std::exception& e) {
      o.error = e.what();
    }
    return o;
  });
}

std::string StudioState::PollOpen() {
  if (!opening_.valid() || opening_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return "";
  Opened o = opening_.get();
  if (o.error.empty()) {
    try {
      Composition opened = Composition::FromConfig(registry_, o.model_config, o.components);
      composition_ = std::move(opened);
      const auto& r = o.resolved;
      SetFrom(r["data"], "train", run_.data_train);
      SetFrom(r["data"], "seq_len", run_.seq_len);
      SetFrom(r["data"], "micro_batch_size", run_.micro_batch_size);
      SetFrom(r["train"], "steps", run_.steps);
      SetFrom(r["train"], "lr", run_.lr);
      SetFrom(r["train"], "checkpoint_every", run_.checkpoint_every);
      SetFrom(r["train"], "dtype", run_.dtype);
      SetFrom(r["run"], "name", run_.name);
      SetFrom(r["run"], "dir", run_.runs_dir);
      SetFrom(r["run"], "db", run_.store);
    } catch (const std::exception& e) {
      o.error = e.what();
    }
  }
  return o.error.empty() ? "opened " + o.path : "cannot open " + o.path + ": " + o.error;
}


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
  if (checker_.LatestRequest() != (plan_ ? plan_->request : 0)) plan_ = checker_.Latest();
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

bool StudioState::plan_pending() const { return checker_.LatestRequest() < last_request_; }

std::vector<std::string> StudioState::ErrorsAt(const std::string& key) const {
  std::vector<std::string> out;
  if (!plan_) return out;
  for (const auto& e : plan_->errors) {
    if (e.keys.empty() || e.keys.front() != key) continue;
    const std::string prefix = key + ": ";
    out.push_back(e.message.rfind(prefix, 0) == 0 ? e.message.substr(prefix.size()) : e.message);
  }
  return out;
}

std::vector<std::string> StudioState::AlsoNamedBy(const std::string& key) const {
  std::vector<std::string> out;
  if (!plan_) return out;
  for (const auto& e : plan_->errors)
    if (!e.keys.empty() && e.keys.front() != key && std::find(e.keys.begin() + 1, e.keys.end(), key) != e.keys.end())
      out.push_back(e.keys.front());
  return out;
}

std::string StudioState::Launch() {
  const auto problems = composition_.Problems();
  if (!problems.empty()) return "cannot launch: " + problems.front();
  const auto latest = checker_.Latest();  // the newest, not this frame's copy: a click acts on what is known now
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
