// Trainer::Impl: the state of one run, shared by the Trainer's files
// (trainer.cc: build and step; trainer_checkpoint.cc: save and resume).
// Internal to sdk/train.
#pragma once

#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include "models/llm/decoder_lm.h"
#include "ops/base/error.h"
#include "models/omni/omni_model.h"
#include "parallel/fsdp/component_fsdp.h"
#include "parallel/plan/apply_plan.h"
#include "sdk/checkpoint/checkpoint.h"
#include "sdk/data/batch.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/synthetic_media.h"
#include "sdk/data/token_dataset.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_device.h"
#include "sdk/train/train_step.h"
#include "sdk/train/trainer.h"
#include "sdk/train/trainer_data.h"

namespace loom::train {

// Where a run's checkpoints go: run.dir/run.name/checkpoints.
inline std::string CheckpointRootOf(const config::LoomConfig& cfg) {
  return (std::filesystem::path(cfg.run.dir) / cfg.run.name / "checkpoints").string();
}

struct Trainer::Impl {
  config::LoomConfig cfg;
  std::string config_json;  // cfg resolved, as JSON (the run store's and every checkpoint's copy)
  comm::CommunicatorPtr world;
  bool leader = true;
  parallel::Plan plan;
  std::shared_ptr<models::TrainableModel> model;
  at::Device device = at::kCPU;  // train.device (train_device.h)
  const models::DecoderLM* llm = nullptr;     // the foundation (the model itself for an LLM)
  const models::OmniModel* omni = nullptr;    // null unless an omni model
  std::unique_ptr<models::ParameterSource> source;
  std::string origin;                          // where the values come from (BuiltModel::origin)
  std::vector<parallel::AppliedPlan> applied;  // one per plan component
  size_t foundation = 0;                       // the component whose groups the data follows
  std::unique_ptr<parallel::ComponentFsdp> fsdp;  // null in one process
  std::unique_ptr<data::TokenDataset> train_data, eval_data;  // text datasets
  std::unique_ptr<data::ChatDataset> train_chat, eval_chat;   // or conversations with media
  std::unique_ptr<data::BatchStream> loader;  // behind a PrefetchStream when data.prefetch > 0
  int data_world = 1;                          // data ranks (a loader position is global / this)
  ReadTally reads;                             // samples read and bad ones, over the data ranks
  std::vector<data::PackedBatch> eval_batches;
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  StepOptions step_options;
  std::shared_ptr<metrics::RunStore> store;

  // A save whose rank files are being written (train.checkpoint_async): the
  // staged copies live in the writer's closure, so later steps cannot change them.
  struct PendingCheckpoint {
    std::string root;
    checkpoint::Meta meta;    // filled at staging (the leader commits it)
    std::future<std::pair<int64_t, double>> write;  // this rank's file: bytes, seconds
    bool written = false;     // write finished (error holds its failure)
    std::string error;
    int64_t bytes = 0;        // this rank's file, once written
    double seconds = 0;       // writing it (staging excluded)
  };
  std::unique_ptr<PendingCheckpoint> pending_checkpoint;
  int64_t last_checkpoint_step = -1;  // the step of the last save begun (pending or committed)

  bool distributed() const { return fsdp != nullptr; }
  // Rows in one of this rank's micro-batches (a dynamic batch is one row).
  int64_t rows_per_micro_batch() const {
    return cfg.data.max_tokens_per_micro_batch > 0 || (train_chat && !cfg.data.pack) ? 1 : cfg.data.micro_batch_size;
  }
  // The loader's position as global rows (what checkpoints store: any
  // layout with the same global order resumes it), and back.
  int64_t GlobalRows() const { return loader->position() * rows_per_micro_batch() * data_world; }
  void SeekGlobalRows(int64_t rows, const std::string& where) {
    const int64_t per = rows_per_micro_batch() * data_world;
    if (rows % per != 0) {
      throw ConfigError(ErrorWithFix(where + " is at global row " + std::to_string(rows) + ", which " +
                                         std::to_string(data_world) + " data rank(s) of " +
                                         std::to_string(rows_per_micro_batch()) + "-row micro-batches cannot share evenly",
                                     "resume with data ranks x data.micro_batch_size dividing " + std::to_string(rows) +
                                         " (keep x train.grad_accum equal to keep the global batch)"));
    }
    loader->Seek(rows / per);
  }
  const parallel::ProcessGroups& groups() const { return applied[foundation].groups; }
  // Every rank holds distinct tokens (data ranks x sequence slices).
  double Sum(double v) const { return distributed() ? comm::AllReduceSum(*world, v) : v; }
  // A loader batch as the model takes it: omni media and positions, then
  // this rank's sequence slice.
  data::PackedBatch Prepare(data::PackedBatch b) const {
    if (omni && omni->vision) b.position_ids = at::Tensor();  // M-RoPE positions come from the grids
    if (omni && cfg.data.synthetic_media) data::AddSyntheticMedia(&b, omni->config(), static_cast<uint64_t>(cfg.train.seed));
    return BatchOn(distributed() ? SliceForModel(*model, b, groups().sp->rank(), groups().sp->size()) : b, device);
  }
  const parallel::ComponentPlan& component() const { return plan.components[foundation]; }
  // Unit shards of every component, named "<component>/<unit>" when there are several.
  std::vector<std::pair<std::string, at::Tensor>> Shards() const {
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (size_t i = 0; i < applied.size(); ++i) {
      const std::string prefix = applied.size() > 1 ? plan.components[i].name + "/" : "";
      for (const auto& u : applied[i].fsdp->Units()) out.emplace_back(prefix + u.name, u.shard);
    }
    return out;
  }
};

}  // namespace loom::train
