// StudioState: everything the studio's panels read and edit, with no ImGui
// include (STYLE rule 25). The UI thread owns it; its workers (PlanChecker,
// RunCatalog, RunFeed, Launcher, FileWriter) are reached only through their
// non-blocking calls. Views derive what they draw from it every frame.
#pragma once

#include <chrono>
#include <future>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "studio/model/composer.h"
#include "studio/model/file_writer.h"
#include "studio/model/launcher.h"
#include "studio/model/plan_checker.h"
#include "studio/model/run_catalog.h"
#include "studio/model/run_feed.h"

namespace loom::studio {

// The data, schedule and store of the next launch: the YAML sections besides
// model and the blocks' parallel keys.
struct RunSettings {
  std::string name = "studio";
  std::string data_train;             // a dataset prefix built by `loom data build`
  std::string runs_dir = "runs";      // run.dir
  std::string store = "runs/loom.sqlite";  // run.db
  int steps = 40;
  double lr = 3e-3;
  int seq_len = 160;
  int micro_batch_size = 1;
  int checkpoint_every = 10;
  std::string dtype = "fp32";          // train.dtype
};

// Persisted view choices (one plain struct, STYLE rule 25).
struct ViewSettings {
  std::string selected_block = "llm";
  std::string chart_metric = "loss";
  std::set<int64_t> compared_runs;     // run ids drawn together on the charts
  std::string export_dir = "studio_exports";
  std::string model_folder = "studio_model";  // the composer's Save / Open folder (or a .yaml to open)
};

class StudioState {
 public:
  // `registry`: loom_registry_json's object.
  explicit StudioState(nlohmann::json registry);

  const nlohmann::json& registry() const { return registry_; }
  Composition& composition() { return composition_; }
  RunSettings& run() { return run_; }
  ViewSettings& view() { return view_; }
  int64_t& world() { return world_; }

  // The YAML `loom train` runs for the current composition and settings.
  // `config_json_path` is where the composition's config.json will be.
  std::string TrainYaml(const std::string& config_json_path) const;
  std::string RunFolder() const { return run_.runs_dir + "/" + run_.name + "/studio"; }

  // Re-validates when the composition, world or settings changed since the
  // last request (a cheap text comparison each frame); never waits.
  void RequestPlanCheckIfChanged();
  // The newest plan result, refreshed once a frame by RequestPlanCheckIfChanged
  // (copied only when a new one arrived).
  const std::optional<PlanResult>& plan() const { return plan_; }
  bool plan_pending() const;     // a newer request than the latest result
  // Messages of the latest result's errors about `key` (a full config key:
  // the first key an error names), without the "key: " prefix.
  std::vector<std::string> ErrorsAt(const std::string& key) const;
  // The keys of errors that also mention `key` without being about it
  // ("dp_replicate x sp" in a dp_shard error): the form marks such fields.
  std::vector<std::string> AlsoNamedBy(const std::string& key) const;

  // Saves the composition as what `loom train` runs: folder/config.json and
  // folder/train.yaml (on the FileWriter's worker).
  void Save(const std::string& folder);
  // Opens such a train.yaml (its model.config, components.*.parallel keys
  // and run settings) on a worker; PollOpen applies it once read. A bad file
  // leaves the composition as it was and returns the reason from PollOpen.
  void Open(const std::string& yaml_path);
  // "" while nothing finished; else "opened PATH" or "cannot open PATH: why".
  std::string PollOpen();

  // Launches the composition on world() ranks (validation errors: a message, nothing launched).
  std::string Launch();
  Launcher& launcher() { return launcher_; }
  RunCatalog& catalog() { return catalog_; }
  FileWriter& writer() { return writer_; }

  // The feed of run `id` in the store (created on first use, polling every 100 ms).
  RunFeed& Feed(int64_t run_id);
  // The feed of the launched run (by name), once launched.
  RunFeed* LaunchedFeed();

 private:
  nlohmann::json registry_;
  Composition composition_;
  RunSettings run_;
  ViewSettings view_;
  int64_t world_ = 2;
  PlanChecker checker_;
  std::optional<PlanResult> plan_;  // the newest result seen
  std::string last_checked_;  // the request text last sent
  uint64_t last_request_ = 0;
  Launcher launcher_;
  RunCatalog catalog_{std::chrono::milliseconds(500)};
  FileWriter writer_;
  std::map<std::string, std::unique_ptr<RunFeed>> feeds_;  // by "store|run"
  struct Opened {
    std::string path, error;
    nlohmann::json model_config, components, resolved;
  };
  std::future<Opened> opening_;
  std::string launched_feed_;  // key of the launched run's feed
  int64_t launched_seen_ = 0;  // launches the feed was made for
};

}  // namespace loom::studio
