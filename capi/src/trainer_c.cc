// The C ABI shim: a trainer over sdk/train/trainer.h. Callbacks are a
// TrainerObserver; a callback asking to abort cancels the run at the step
// boundary, and the call returns LOOM_E_CANCELLED.
#include "capi/src/api_guard.h"
#include "capi/src/handles.h"
#include "sdk/runtime/world.h"

using loom::capi::Live;

namespace {

constexpr const char* kTrainerMaker = "loom_trainer_create";

class CallbackObserver : public loom::train::TrainerObserver {
 public:
  explicit CallbackObserver(loom_trainer* handle) : h_(handle) {}
  void OnStep(const loom::metrics::StepMetrics& m) override {
    if (!h_->options.on_step) return;
    const std::string extra = m.extra.dump();
    const loom_step_metrics c{sizeof(loom_step_metrics), m.step, h_->trainer ? h_->trainer->total_steps() : 0, m.loss, m.lr,
                              m.grad_norm, m.tokens_per_s, m.step_time_s, m.peak_mem_bytes, extra.c_str()};
    if (h_->options.on_step(&c, h_->options.on_step_user_data) != 0) Abort();
  }
  void OnEvent(int64_t step, const std::string& kind, const std::string& message) override {
    if (h_->options.on_event && h_->options.on_event(step, kind.c_str(), message.c_str(), h_->options.on_event_user_data) != 0) {
      Abort();
    }
  }
  void OnLog(const std::string& line) override {
    if (h_->options.on_log) h_->options.on_log(line.c_str(), h_->options.on_log_user_data);
  }

 private:
  void Abort() {
    h_->abort_requested = true;
    if (h_->trainer) h_->trainer->Cancel();
  }
  loom_trainer* h_;
};

// The live trainer, usable: not failed by an earlier step.
loom_trainer& Usable(loom_trainer* t) {
  auto& h = Live(t, "loom_trainer", kTrainerMaker);
  if (!h.failure.empty()) {
    throw loom::ConfigError("this trainer's run failed at step " + std::to_string(h.trainer->step()) + " (" + h.failure +
                            "); destroy it and create a new one (train.resume continues from a checkpoint)");
  }
  return h;
}

// One Step(), mapping a cancel to CancelledError and a failure to an
// unusable trainer. Returns whether a step was taken.
bool StepOnce(loom_trainer& h) {
  bool more = false;
  try {
    more = h.trainer->Step();
    // A callback asked to abort during this step: the run ends at this boundary.
    if (h.abort_requested && !h.trainer->cancelled()) h.trainer->Step();
  } catch (const std::exception& e) {
    h.failure = e.what();
    throw;
  }
  if (h.trainer->cancelled()) {
    throw loom::capi::CancelledError(std::string(h.abort_requested ? "a callback asked to abort" : "loom_trainer_cancel was called") +
                                     "; the run ended `cancelled` after " + std::to_string(h.trainer->step()) + " steps");
  }
  return more;
}

}  // namespace

extern "C" {

loom_trainer_options loom_trainer_options_default(void) { return LOOM_TRAINER_OPTIONS_INIT; }

loom_status loom_trainer_create(loom_trainer** out_trainer, const loom_config* config, const loom_trainer_options* options) {
  LOOM_API_BEGIN
  loom::capi::CheckOut(out_trainer, "out_trainer");
  auto& c = Live(config, "loom_config", "loom_config_load or loom_config_parse");
  auto h = std::make_unique<loom_trainer>();
  h->options = loom::capi::ReadOptions(options, loom_trainer_options_default(), "loom_trainer_options");
  loom::comm::CommunicatorPtr world;
  if (h->options.join_world) {
    const auto info = loom::runtime::WorldInfoFromEnv();
    if (info.world_size > 1) {
      loom::comm::CommOptions comm;
      comm.timeout = loom::runtime::CommTimeoutFromEnv(std::chrono::seconds(300));
      world = loom::runtime::JoinWorld(info, comm);
    }
  }
  auto observer = std::make_shared<CallbackObserver>(h.get());
  h->trainer = loom::train::Trainer::Create(c.cfg, world);
  h->trainer->AddObserver(observer);  // replays the build and plan events
  if (h->abort_requested) {
    throw loom::capi::CancelledError("a callback asked to abort while the trainer was being built; nothing was trained");
  }
  loom::capi::RegisterHandle(h.get(), "loom_trainer");
  *out_trainer = h.release();
  LOOM_API_END
}

loom_status loom_trainer_step(loom_trainer* trainer, int32_t* out_more) {
  LOOM_API_BEGIN
  auto& h = Usable(trainer);
  const bool more = StepOnce(h);
  if (out_more) *out_more = more && !h.trainer->done() ? 1 : 0;
  LOOM_API_END
}

loom_status loom_trainer_run(loom_trainer* trainer) {
  LOOM_API_BEGIN
  auto& h = Usable(trainer);
  while (StepOnce(h)) {
  }
  h.trainer->Finish();
  LOOM_API_END
}

loom_status loom_trainer_cancel(loom_trainer* trainer) {
  LOOM_API_BEGIN
  Live(trainer, "loom_trainer", kTrainerMaker).trainer->Cancel();
  LOOM_API_END
}

loom_status loom_trainer_evaluate(loom_trainer* trainer, double* out_loss) {
  LOOM_API_BEGIN
  auto& h = Usable(trainer);
  loom::capi::CheckOut(out_loss, "out_loss");
  const double loss = h.trainer->Evaluate();
  if (loss < 0) throw loom::ConfigError("no held-out batches to evaluate on; set data.eval to a dataset prefix (loom data build --eval-fraction)");
  *out_loss = loss;
  LOOM_API_END
}

loom_status loom_trainer_save_checkpoint(loom_trainer* trainer, char** out_dir) {
  LOOM_API_BEGIN
  auto& h = Usable(trainer);
  loom::capi::CheckOut(out_dir, "out_dir");
  loom::capi::ReturnString(out_dir, h.trainer->SaveCheckpoint(), "out_dir");
  LOOM_API_END
}

loom_status loom_trainer_export(loom_trainer* trainer, char** out_dir) {
  LOOM_API_BEGIN
  auto& h = Usable(trainer);
  loom::capi::CheckOut(out_dir, "out_dir");
  loom::capi::ReturnString(out_dir, h.trainer->Export(), "out_dir");
  LOOM_API_END
}

loom_status loom_trainer_finish(loom_trainer* trainer) {
  LOOM_API_BEGIN
  Usable(trainer).trainer->Finish();
  LOOM_API_END
}

loom_status loom_trainer_get_state(const loom_trainer* trainer, loom_trainer_state* out_state) {
  LOOM_API_BEGIN
  auto& h = Live(trainer, "loom_trainer", kTrainerMaker);
  const auto& r = h.trainer->result();
  int32_t status = 0;
  switch (r.status) {
    case loom::metrics::RunStatus::kCompleted: status = 1; break;
    case loom::metrics::RunStatus::kFailed: status = 2; break;
    case loom::metrics::RunStatus::kCancelled: status = 3; break;
    default: status = h.failure.empty() ? 0 : 2;
  }
  loom::capi::WriteState(out_state,
                         loom_trainer_state{sizeof(loom_trainer_state), h.trainer->step(), h.trainer->total_steps(), r.run_id,
                                            r.last_loss, status},
                         "loom_trainer_state");
  LOOM_API_END
}

void loom_trainer_destroy(loom_trainer* trainer) {
  LOOM_API_VOID_BEGIN
  loom::capi::DestroyHandle(trainer, "loom_trainer", kTrainerMaker);  // the Trainer records an unfinished run as failed
  LOOM_API_VOID_END
}

}  // extern "C"
