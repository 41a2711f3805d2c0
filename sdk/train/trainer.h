// Trainer: one training run as an object the CLI, the C ABI and the studio
// drive the same way. Created from a config (and a world), it builds the
// model (sharded on the meta device when distributed), the Plan
// (sdk/train/plan_config.h) and applies it (parallel/plan/apply_plan.h), opens
// the data, the optimizer and (rank 0) the run store; then
//
//   Step()      one optimizer step (accumulation, clipping, schedule; eval
//               every train.eval_every steps); false once no step is left or
//               the run was cancelled
//   Evaluate()  mean loss on the held-out batches
//   Export()    the model as a Hugging Face directory (gathered to rank 0)
//   Finish()    marks the run completed
//   Cancel()    from any thread or a signal handler (it only sets an atomic
//               flag; `loom train` calls it on SIGINT and SIGTERM): the next
//               Step() boundary stops every rank at the same step (the ranks
//               agree through one all-reduce per step), takes a final
//               checkpoint when train.checkpoint_every > 0, and the run is
//               marked `cancelled` in the run store
//   State()/Restore()  what a checkpoint saves: step, data position, RNG,
//               this rank's model values (FSDP shards) and AdamW state
//
// Observers receive each step's metrics, events (build, plan, eval, export)
// and log lines on the training thread; the run store, the progress line and
// the log stream are observers. Any TrainableModel trains through it.
//
// Determinism: with the same config and seed two CPU runs give the same
// losses bit for bit; any parallel layout gives the one-process losses
// (the loss is normalised by the global label-token count).
#pragma once

#include <atomic>
#include <memory>
#include <ostream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

#include "parallel/comm/communicator.h"

namespace loom::checkpoint {
class Reader;
}
#include "parallel/plan/plan.h"
#include "sdk/config/train_config.h"
#include "sdk/metrics/run_store.h"

namespace loom::train {

struct TrainResult {
  int64_t run_id = 0;
  double first_loss = 0;
  double last_loss = 0;
  double last_eval_loss = -1;  // -1: no evaluation ran
  std::string model_dir;       // the final HF model directory
  metrics::RunStatus status = metrics::RunStatus::kRunning;
  int signal = 0;              // the signal that cancelled it (SIGINT, SIGTERM); 0 if none
};

// Receives what a Trainer does, on the thread that calls Step().
class TrainerObserver {
 public:
  virtual ~TrainerObserver() = default;
  virtual void OnStep(const metrics::StepMetrics& /*m*/) {}
  virtual void OnEvent(int64_t /*step*/, const std::string& /*kind*/, const std::string& /*message*/) {}
  virtual void OnLog(const std::string& /*line*/) {}
  virtual void OnFinish(metrics::RunStatus /*status*/, const std::string& /*error*/) {}
};

// What a training checkpoint saves and restores (files: the checkpoint issue).
struct TrainerState {
  int64_t step = 0;           // optimizer steps done
  int64_t data_position = 0;  // global rows the loaders have returned (every data rank's)
  at::Tensor rng;             // the CPU generator's state
  // This rank's model values: every parameter (one process) or its FSDP
  // unit shards (by unit name), and AdamW's moments and step per tensor.
  std::vector<std::pair<std::string, at::Tensor>> model;
  std::vector<std::pair<std::string, at::Tensor>> optimizer;
};

class Trainer {
 public:
  // `world` may be null (one process). Validates the config, the model and
  // the plan before any work (ConfigError listing every problem).
  static std::unique_ptr<Trainer> Create(const config::LoomConfig& cfg, const comm::CommunicatorPtr& world = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Observers added before the first Step() also see the build/plan events
  // replayed. Not thread-safe: add from the training thread.
  void AddObserver(std::shared_ptr<TrainerObserver> observer);

  bool Step();
  double Evaluate();
  std::string Export();
  void Finish();
  // Records a failure (the run ends `failed`); for callers that catch.
  void Fail(const std::string& error);
  // `signal`: the signal that asked (0: a caller), for the run store's event.
  void Cancel(int signal = 0) noexcept {
    cancel_signal_.store(signal, std::memory_order_relaxed);
    cancel_requested_.store(true, std::memory_order_relaxed);
  }

  bool cancelled() const { return cancelled_; }
  bool done() const;
  int64_t step() const { return step_; }
  int64_t total_steps() const;
  const parallel::Plan& plan() const;
  const TrainResult& result() const { return result_; }

  // Sharded training checkpoints (sdk/checkpoint/checkpoint.h), collective:
  // SaveCheckpoint writes every rank's slices of the model and AdamW state,
  // the data position, the RNGs and the step under CheckpointRoot()
  // (run.dir/run.name/checkpoints) and commits it atomically before it
  // returns. Step() saves every train.checkpoint_every steps; with
  // train.checkpoint_async it copies the state and writes it on a background
  // thread while the next steps run, committing at the first step boundary
  // after every rank's file is on disk. WaitForCheckpoint() blocks until such
  // a save is committed (Export, Finish and a cancel call it). A failed write
  // on any rank fails the run on every rank.
  // ResumeFrom(DIR | ROOT | "latest") loads one taken under any layout and
  // world size (each rank reads only its slices); Create() calls it when
  // train.resume is set and then continues the checkpoint's run in the store.
  std::string SaveCheckpoint();
  void WaitForCheckpoint();
  void ResumeFrom(const std::string& where);
  std::string CheckpointRoot() const;

  TrainerState State() const;
  // Restores a State() taken from a trainer of the same config and layout.
  void Restore(const TrainerState& state);

  struct Impl;

 private:
  explicit Trainer(std::unique_ptr<Impl> impl);
  void Emit(int64_t step, const std::string& kind, const std::string& message);
  void Log(const std::string& line);
  void End(metrics::RunStatus status, const std::string& error);
  // Stages this rank's state and starts its write (commit: CommitPending).
  void BeginCheckpoint(bool async);
  // Collective while a save is pending: commits it once every rank's file is
  // written (or at once, waiting, when `block`). Returns the committed dir, or "".
  std::string CommitPending(bool block);
  void LoadCheckpoint(const checkpoint::Reader& reader);

  std::unique_ptr<Impl> impl_;
  std::vector<std::shared_ptr<TrainerObserver>> observers_;
  // What happened before the first step, replayed to observers added later.
  std::vector<std::tuple<int64_t, std::string, std::string>> early_events_;
  std::vector<std::string> early_logs_;
  std::atomic<bool> cancel_requested_{false};
  std::atomic<int> cancel_signal_{0};
  bool cancelled_ = false;
  bool ended_ = false;
  int64_t step_ = 0;
  TrainResult result_;
};

// The `loom train` loop: Create, the progress line and log on `log` (rank 0),
// Step until done or cancelled, Export and Finish (unless cancelled).
TrainResult RunTraining(const config::LoomConfig& cfg, std::ostream& log,
                        const comm::CommunicatorPtr& world = nullptr);

// The trainer Cancel()s when SIGINT (Ctrl-C) or SIGTERM (a launcher or a
// scheduler) arrives while it runs; a second one terminates at once (as a
// rank blocked in a collective with a dead peer needs: `loom launch` follows
// its SIGTERM with SIGKILL after --kill-grace). Null uninstalls.
void CancelOnSignals(Trainer* trainer);

}  // namespace loom::train
