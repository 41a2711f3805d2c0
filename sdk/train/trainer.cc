#include "sdk/train/trainer.h"

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/optim/adamw.h>
#include <torch/utils.h>

#include "models/llm/decoder_lm.h"
#include "models/llm/weight_sources.h"
#include "models/omni/omni_model.h"
#include "ops/base/error.h"
#include "parallel/fsdp/component_fsdp.h"
#include "parallel/plan/apply_plan.h"
#include "sdk/checkpoint/checkpoint.h"
#include "sdk/config/load_config.h"
#include "sdk/data/chat_loader.h"
#include "sdk/data/packing.h"
#include "sdk/data/prefetch.h"
#include "sdk/data/synthetic_media.h"
#include "sdk/data/token_dataset.h"
#include "sdk/metrics/memory.h"
#include "sdk/train/chat_data_check.h"
#include "sdk/train/export.h"
#include "sdk/train/model_build.h"
#include "sdk/train/model_config.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/plan_config.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_step.h"
#include "sdk/train/trainer_data.h"
#include "sdk/train/trainer_impl.h"
#include "sdk/train/trainer_observers.h"

namespace loom::train {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;


namespace {

// How the model was built, for the log and the run store. Collective when
// distributed: the checkpoint bytes every rank read are summed.
std::string DescribeBuild(const Trainer::Impl& t) {
  std::ostringstream os;
  if (t.distributed()) {
    os << "built on the meta device; each of " << t.world->size() << " ranks filled only its shards";
  } else {
    os << "built whole in one process" << (t.device.is_cpu() ? "" : " and moved to " + t.device.str());
  }
  os << " from " << t.origin;
  if (const auto* weights = dynamic_cast<const models::HfWeightsSource*>(t.source.get())) {
    const double bytes = t.Sum(static_cast<double>(weights->bytes_read()));
    os << " (" << static_cast<int64_t>(bytes)
       << (t.distributed() ? " safetensors bytes read by all ranks together)" : " safetensors bytes read)");
  }
  return os.str();
}

// One component's layout, e.g. "vision: FSDP over 4 ranks, recompute full".
std::string DescribeComponent(const Trainer::Impl& t, size_t i) {
  const auto& c = t.plan.components[i];
  const auto& g = t.applied[i].groups;
  std::ostringstream os;
  if (t.plan.components.size() > 1) os << c.name << ": ";
  if (!t.distributed()) {
    os << "one process";
  } else {
    os << "FSDP over " << g.fsdp->size() << " ranks";
    if (c.mesh.dp_replicate > 1) os << " x " << c.mesh.dp_replicate << " replicas (HSDP)";
  }
  if (t.distributed() && c.mesh.sp > 1) os << ", Ulysses SP " << c.mesh.sp << " (" << c.sp_mode << ")";
  if (t.distributed() && c.mesh.ep > 1 && t.llm) {
    os << ", EP " << c.mesh.ep << " (" << t.llm->config().num_experts / c.mesh.ep << " experts per rank"
       << (c.ep_overlap_chunks > 1 ? ", overlapped x" + std::to_string(c.ep_overlap_chunks) : "") << ")";
  }
  if (c.recompute != parallel::RecomputePolicy::kNone) os << ", recompute " << parallel::RecomputeName(c.recompute);
  return os.str();
}

std::string DescribeRun(const Trainer::Impl& t, int64_t run_id) {
  const int data_world = t.distributed() ? t.groups().dp->size() : 1;
  std::ostringstream os;
  os << "loom train: run " << run_id << " '" << t.cfg.run.name << "': " << t.model->family() << " with "
     << t.model->NumParameters() << " parameters, "
     << (t.train_chat ? t.train_chat->tokens().info().n_tokens : t.train_data->info().n_tokens) << " training tokens"
     << (t.train_chat ? " (" + std::to_string(t.train_chat->n_docs()) + " conversations)" : "")
     << (t.omni && t.cfg.data.synthetic_media ? " (with synthetic media)" : "") << ", " << t.cfg.train.steps
     << " steps of " << t.cfg.train.grad_accum;
  const auto& d = t.cfg.data;
  if (d.max_tokens_per_micro_batch > 0) {
    os << " x " << (t.train_chat ? "up to " : "") << d.max_tokens_per_micro_batch << " tokens (dynamic batching)";
  } else if (t.train_chat && !d.pack) {
    os << " x " << d.micro_batch_size << " conversations (unpacked)";
  } else {
    os << " x " << d.micro_batch_size << " x " << d.seq_len << " tokens";
  }
  os << " per data rank (" << data_world << "), ";
  for (size_t i = 0; i < t.plan.components.size(); ++i) os << (i ? "; " : "") << DescribeComponent(t, i);
  os << "; run store " << t.cfg.run.db;
  return os.str();
}

}  // namespace

std::unique_ptr<Trainer> Trainer::Create(const config::LoomConfig& cfg, const comm::CommunicatorPtr& world) {
  if (cfg.data.train.empty()) {
    throw ConfigError(ErrorWithFix("data.train is empty", "build a dataset with `loom data build` and set data.train"));
  }
  auto t = std::make_unique<Impl>();
  t->cfg = cfg;
  t->config_json = config::ToJson(cfg).dump();
  t->world = world;
  t->leader = !world || world->rank() == 0;
  const int64_t world_size = world ? world->size() : 1;
  // The plan first: every problem of the config's layout before any work.
  BuiltModel built = BuildModel(cfg, world_size > 1 ? at::Device(at::kMeta) : at::Device(at::kCPU));
  const auto specs = built.model->component_specs();
  t->plan = PlanFromConfig(cfg, world_size, specs);
  ValidatePlanFor(t->plan, specs);
  if (cfg.data.synthetic_media && !models::IsOmniModelType(built.model->family())) {
    throw ConfigError(ErrorWithFix("data.synthetic_media is set but " + built.model->family() + " has no encoders",
                                   "unset data.synthetic_media, or train an omni model (model.config or model.path)"));
  }

  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
  t->model = built.model;
  t->device = TrainDevice(cfg, world_size, *t->model);
  if (!t->device.is_cpu()) t->model->to(t->device);  // one process: built whole, then moved
  t->source = std::move(built.source);
  t->origin = built.origin;
  t->llm = FoundationOf(*t->model);
  t->omni = dynamic_cast<const models::OmniModel*>(t->model.get());
  if (data::ChatDataset::Exists(cfg.data.train)) {
    if (cfg.data.synthetic_media) {
      throw ConfigError(ErrorWithFix("data.synthetic_media is set but data.train " + cfg.data.train +
                                         " is a chat dataset with its own media",
                                     "unset data.synthetic_media"));
    }
    t->train_chat = std::make_unique<data::ChatDataset>(data::ChatDataset::Open(cfg.data.train));
    CheckChatDataFits(*t->train_chat, t->omni);
  } else {
    t->train_data = std::make_unique<data::TokenDataset>(data::TokenDataset::Open(cfg.data.train));
  }
  const auto& train_info = t->train_chat ? t->train_chat->tokens().info() : t->train_data->info();
  const int64_t vocab = t->llm ? t->llm->config().vocab_size : 0;
  if (t->llm && train_info.vocab_size > vocab) {
    throw ConfigError(ErrorWithFix("dataset " + cfg.data.train + " has vocab size " +
                                       std::to_string(train_info.vocab_size) + " > the model's " +
                                       std::to_string(vocab),
                                   "set model.vocab_size to at least the tokenizer's vocab size"));
  }
  // One ApplyPlan per component, in forward (= registration) order: a
  // sharded build fills parameters in the model's order, as its source expects.
  for (const auto& c : t->plan.components) t->applied.push_back(parallel::ApplyPlan(t->model, t->plan, c, world, t->source.get()));
  for (size_t i = 0; i < specs.size(); ++i) {
    if (!IsEncoder(specs[i], specs.size())) {
      t->foundation = i;
      break;
    }
  }
  if (t->applied.front().distributed()) {
    std::vector<parallel::FsdpModel*> parts;
    for (auto& a : t->applied) parts.push_back(a.fsdp.get());
    t->fsdp = std::make_unique<parallel::ComponentFsdp>(parts);
  }
  const int data_rank = t->distributed() ? t->groups().dp->rank() : 0;
  const int data_world = t->distributed() ? t->groups().dp->size() : 1;
  const auto seed = static_cast<uint64_t>(cfg.train.seed);
  t->data_world = data_world;
  const int64_t code_offset = t->omni && t->omni->config().HasImageOut() ? t->omni->config().ImageCodeOffset() : 0;
  t->loader = OpenLoader(cfg, t->train_data.get(), t->train_chat.get(), /*eval=*/false, data_rank, data_world, code_offset);
  if (cfg.data.prefetch > 0) {
    t->loader = std::make_unique<data::PrefetchStream>(std::move(t->loader), static_cast<int>(cfg.data.prefetch));
  }
  // Held-out batches whenever data.eval is set: train.eval_every schedules
  // evaluations, and Evaluate() (the C ABI's) may run one at any time.
  if (!cfg.data.eval.empty()) {
    if (t->train_chat) {
      t->eval_chat = std::make_unique<data::ChatDataset>(data::ChatDataset::Open(cfg.data.eval));
      CheckChatDataFits(*t->eval_chat, t->omni);
    } else {
      t->eval_data = std::make_unique<data::TokenDataset>(data::TokenDataset::Open(cfg.data.eval));
    }
    auto eval_loader =
        OpenLoader(cfg, t->eval_data.get(), t->eval_chat.get(), /*eval=*/true, data_rank, data_world, code_offset);
    for (int64_t i = 0; i < cfg.train.eval_batches && !eval_loader->done(); ++i) {
      t->eval_batches.push_back(t->Prepare(eval_loader->Next()));
    }
  }
  auto& fsdp = t->fsdp;
  t->optimizer = fsdp ? BuildAdamW(fsdp->ShardParameters(true), fsdp->ShardParameters(false), cfg.train)
                      : BuildAdamW(t->model->parameters(), cfg.train);
  if (fsdp) {
    UseFsdp(&t->step_options, fsdp.get(), t->world);
    if (t->model->SlicesSequenceItself()) t->step_options.sequence = {t->groups().sp->rank(), t->groups().sp->size()};
  }
  t->step_options.grad_clip = cfg.train.grad_clip;
  t->step_options.loss_chunk_size = cfg.train.loss_chunk_size;
  t->step_options.bf16 = t->component().precision.compute == at::kBFloat16;
  t->step_options.device = t->device;

  const std::string build = DescribeBuild(*t);
  // The checkpoint to resume, found and verified before the run store is touched.
  const std::string root = CheckpointRootOf(cfg);
  std::unique_ptr<checkpoint::Reader> resume;
  if (!cfg.train.resume.empty()) {
    const std::string dir = cfg.train.resume == "auto" ? checkpoint::ResolveIfAny(root)
                                                       : checkpoint::Resolve(cfg.train.resume, root);
    if (!dir.empty()) resume = std::make_unique<checkpoint::Reader>(checkpoint::Reader::Open(dir));
  }
  int64_t run_id = 0;
  bool continued = false;
  std::shared_ptr<metrics::RunStore> store;
  if (t->leader) {
    store = std::make_shared<metrics::RunStore>(cfg.run.db);
    const std::string& config_json = t->config_json;
    // A resume continues the checkpoint's run when this store holds it: same id, steps appended.
    if (resume && store->HasRun(resume->meta().run_id, cfg.run.name)) {
      run_id = resume->meta().run_id;
      store->ReopenRun(run_id, config_json, world_size, cfg.run.lost_after_s);
      continued = true;
    } else {
      run_id = store->CreateRun(cfg.run.name, config_json, world_size, cfg.run.lost_after_s);
    }
  }
  const std::string header = DescribeRun(*t, run_id);
  t->store = store;
  std::unique_ptr<Trainer> trainer(new Trainer(std::move(t)));
  trainer->result_.run_id = run_id;
  if (store) {
    trainer->AddObserver(std::make_shared<RunStoreObserver>(store, run_id, cfg.run.lost_after_s / 4));
  }
  trainer->Log(header);
  trainer->Log("loom train: " + build);
  trainer->Emit(0, "build", build);
  trainer->Emit(0, "plan", parallel::PlanToJson(trainer->impl_->plan).dump());
  // `loom launch --max-restarts` sets these on a restarted job (as torchrun's TORCHELASTIC_RESTART_COUNT).
  const char* restart = std::getenv("LOOM_RESTART_COUNT");
  if (restart && std::atoi(restart) > 0) {
    const char* max = std::getenv("LOOM_MAX_RESTARTS");
    trainer->Emit(resume ? resume->meta().step : 0, "restart",
                  "restart " + std::string(restart) + (max ? " of " + std::string(max) : "") + " by loom launch: " +
                      (resume ? "resuming from " + resume->dir() : std::string("no checkpoint committed, started afresh")));
  }
  if (resume) {
    trainer->LoadCheckpoint(*resume);
    if (!continued && trainer->impl_->leader) {
      trainer->Log("loom train: run " + std::to_string(resume->meta().run_id) + " of " + resume->dir() +
                   " is not in " + cfg.run.db + " (or has another name): recording this resume as run " +
                   std::to_string(run_id));
    }
  }
  return trainer;
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Trainer::~Trainer() {
  // A save still being written: committed in one process; under several
  // ranks (no collectives here) finished but not committed: its .tmp
  // directory is what a crash would leave, never read.
  if (impl_ && impl_->pending_checkpoint) {
    if (!impl_->distributed()) {
      try {
        CommitPending(/*block=*/true);
      } catch (...) {  // reported to no one: the run is ending anyway
      }
    } else if (impl_->pending_checkpoint->write.valid()) {
      impl_->pending_checkpoint->write.wait();
    }
  }
  if (!ended_ && impl_) End(metrics::RunStatus::kFailed, "the trainer was destroyed before the run finished");
}

void Trainer::AddObserver(std::shared_ptr<TrainerObserver> observer) {
  if (!impl_->leader) return;  // rank 0 reports; the others compute and communicate only
  for (const auto& line : early_logs_) observer->OnLog(line);
  for (const auto& [step, kind, message] : early_events_) observer->OnEvent(step, kind, message);
  observers_.push_back(std::move(observer));
}

void Trainer::Emit(int64_t step, const std::string& kind, const std::string& message) {
  if (!impl_->leader) return;
  if (step_ == 0 && (kind == "build" || kind == "plan" || kind == "resumed" || kind == "restart")) early_events_.emplace_back(step, kind, message);
  for (auto& o : observers_) o->OnEvent(step, kind, message);
}

void Trainer::Log(const std::string& line) {
  if (!impl_->leader) return;
  if (step_ == 0 && early_logs_.size() < 8) early_logs_.push_back(line);
  for (auto& o : observers_) o->OnLog(line);
}

void Trainer::End(metrics::RunStatus status, const std::string& error) {
  if (ended_) return;
  ended_ = true;
  result_.status = status;
  if (!impl_->leader) return;
  for (auto& o : observers_) {
    try {
      o->OnFinish(status, error);
    } catch (...) {  // an observer failing must not hide the run's own outcome
    }
  }
}

int64_t Trainer::total_steps() const { return impl_->cfg.train.steps; }
bool Trainer::done() const { return cancelled_ || ended_ || step_ >= impl_->cfg.train.steps; }
const parallel::Plan& Trainer::plan() const { return impl_->plan; }

bool Trainer::Step() {
  if (done()) return false;
  Impl& t = *impl_;
  // Every rank stops at the same step boundary: the ranks agree on the flag.
  double stop = cancel_requested_.load(std::memory_order_relaxed) ? 1.0 : 0.0;
  if (t.distributed()) stop = comm::AllReduceSum(*t.world, stop);
  const auto& cfg = t.cfg;
  if (stop > 0) {
    cancelled_ = true;
    const int sig = cancel_signal_.load(std::memory_order_relaxed);
    result_.signal = sig;
    std::string why = (sig ? std::string(sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal") + ": " : "") +
                      "cancelled at the step boundary before step " + std::to_string(step_);
    try {
      // The final checkpoint: a resume continues from exactly here.
      if (cfg.train.checkpoint_every > 0 && step_ > 0 && step_ != t.last_checkpoint_step) {
        why += "; checkpoint " + SaveCheckpoint();
      } else {
        WaitForCheckpoint();
      }
    } catch (const std::exception& e) {
      Fail(e.what());
      throw;
    }
    Emit(step_, "cancel", why);
    End(metrics::RunStatus::kCancelled, "");
    return false;
  }
  try {
    // Checkpoint work on the training thread (a commit here, staging or a
    // synchronous write below) counts in the step's time: what the loop pays.
    const auto c0 = Clock::now();
    if (t.pending_checkpoint) CommitPending(/*block=*/false);
    double checkpoint_s = std::chrono::duration<double>(Clock::now() - c0).count();
    const double lr = LearningRate(cfg.train, step_);
    SetLearningRate(*t.optimizer, lr);
    const auto t0 = Clock::now();
    std::vector<data::PackedBatch> micro;
    double data_wait = 0;
    for (int64_t i = 0; i < cfg.train.grad_accum; ++i) {
      const auto w0 = Clock::now();
      auto batch = t.loader->Next();
      data_wait += std::chrono::duration<double>(Clock::now() - w0).count();
      micro.push_back(t.Prepare(std::move(batch)));
    }
    if (t.train_chat) {
      t.reads.Add(micro, [&t](double v) { return t.Sum(v); }, !t.distributed() || t.groups().sp->rank() == 0);
      t.reads.Check(cfg.data.max_bad_fraction);
    }
    const StepStats stats = TrainStep(*t.model, *t.optimizer, micro, t.step_options);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    metrics::StepMetrics m;
    m.step = step_;
    m.loss = stats.loss;
    m.lr = lr;
    m.grad_norm = stats.grad_norm;
    m.step_time_s = seconds;
    const double tokens = t.Sum(static_cast<double>(stats.tokens));  // every rank's, without padding
    m.tokens_per_s = tokens / seconds;
    m.peak_mem_bytes = metrics::PeakRssBytes();
    m.extra["data_wait_share"] = seconds > 0 ? data_wait / seconds : 0.0;  // this rank's time waiting for batches
    int64_t positions = 0;
    for (const auto& b : micro) positions += b.input_ids.numel();
    // A model slicing itself holds whole rows on each SP rank and computes 1 / sp of them.
    const int sp = t.distributed() && t.model->SlicesSequenceItself() ? t.groups().sp->size() : 1;
    const double all_positions = t.Sum(static_cast<double>(positions) / sp);
    m.extra["padding_fraction"] = all_positions > 0 ? 1.0 - tokens / all_positions : 0.0;
    if (stats.loss_terms.size() > 1 || t.plan.components.size() > 1) {  // each term on its own
      for (const auto& [term, value] : stats.loss_terms) m.extra["loss_terms"][term] = value;
    }
    if (t.train_chat) {  // bad samples so far (every data rank), and the loss per modality mix
      auto& bad = m.extra["bad_samples"];
      bad = nlohmann::json::object();
      const auto& read = t.reads.total();
      for (int r = 0; r < data::kBadSampleReasons; ++r) {
        if (read.bad[static_cast<size_t>(r)] > 0) bad[data::BadSampleName(r)] = read.bad[static_cast<size_t>(r)];
      }
      m.extra["samples_read"] = read.samples;
      for (const auto& g : stats.loss_by_group) {
        m.extra["loss_by_modality"][g.group] = g.mean;
        m.extra["labels_by_modality"][g.group] = g.labels;
      }
    }
    if (!stats.expert_tokens.empty()) {  // MoE: aux loss and assignments per decoder layer and expert
      m.extra["aux_loss"] = stats.aux_loss;
      auto& tokens = m.extra["expert_tokens"];
      for (size_t i = 0; i < stats.expert_tokens.size(); ++i) {
        tokens[std::to_string(t.llm->sparse_layers()[i])] = stats.expert_tokens[i];
      }
    }
    if (!t.eval_batches.empty() && cfg.train.eval_every > 0 &&
        ((step_ + 1) % cfg.train.eval_every == 0 || step_ + 1 == cfg.train.steps)) {
      m.extra["eval_loss"] = Evaluate();
      Emit(step_, "eval", "eval_loss=" + std::to_string(result_.last_eval_loss));
    }
    if (!std::isfinite(stats.loss)) {
      throw Error(ErrorWithFix("loss is " + std::to_string(stats.loss) + " at step " + std::to_string(step_),
                               "lower train.lr or enable train.grad_clip"));
    }
    if (step_ == 0 || !result_.first_loss) result_.first_loss = stats.loss;
    result_.last_loss = stats.loss;
    ++step_;
    if (cfg.train.checkpoint_every > 0 && (step_ % cfg.train.checkpoint_every == 0 || step_ == cfg.train.steps)) {
      const auto c1 = Clock::now();
      BeginCheckpoint(cfg.train.checkpoint_async);
      if (!cfg.train.checkpoint_async) CommitPending(/*block=*/true);
      checkpoint_s += std::chrono::duration<double>(Clock::now() - c1).count();
    }
    if (cfg.train.checkpoint_every > 0) {
      m.extra["checkpoint_s"] = checkpoint_s;
      m.step_time_s = seconds + checkpoint_s;
      m.tokens_per_s = tokens / m.step_time_s;
    }
    if (t.leader) {
      for (auto& o : observers_) o->OnStep(m);
    }
  } catch (const std::exception& e) {
    Fail(e.what());
    throw;
  }
  return true;
}

double Trainer::Evaluate() {
  Impl& t = *impl_;
  if (t.eval_batches.empty()) return -1;
  result_.last_eval_loss = EvalLoss(*t.model, t.eval_batches, t.step_options);
  return result_.last_eval_loss;
}

std::string Trainer::Export() {
  WaitForCheckpoint();
  Impl& t = *impl_;
  const auto& cfg = t.cfg;
  result_.model_dir = (fs::path(cfg.run.dir) / cfg.run.name / "final").string();
  // Collective when distributed; only rank 0 (which writes) keeps the full state.
  std::vector<std::pair<std::string, at::Tensor>> state;
  if (t.distributed()) {
    state = t.fsdp->GatherFullState(/*rank0_only=*/true);
  } else {
    for (const auto& p : t.model->named_parameters()) state.emplace_back(p.key(), p.value().detach());
  }
  if (t.leader) {
    t.model->SaveExport(std::move(state), result_.model_dir);
    WriteGenerationFiles(cfg, t.train_chat ? t.train_chat->tokens().info().tokenizer : t.train_data->info().tokenizer,
                         t.train_chat ? &t.train_chat->processing() : nullptr, result_.model_dir,
                         t.train_chat ? t.train_chat->image_tokenizer().dir : "");
  }
  Emit(step_, "export", "model_dir=" + result_.model_dir);
  return result_.model_dir;
}

void Trainer::Finish() {
  WaitForCheckpoint();
  End(metrics::RunStatus::kCompleted, "");
  std::ostringstream os;
  os << "loom train: loss " << result_.first_loss << " -> " << result_.last_loss;
  if (result_.last_eval_loss >= 0) os << ", eval loss " << result_.last_eval_loss;
  if (!result_.model_dir.empty()) os << "; model written to " << result_.model_dir;
  Log(os.str());
}

void Trainer::Fail(const std::string& error) { End(metrics::RunStatus::kFailed, error); }

TrainerState Trainer::State() const {
  const Impl& t = *impl_;
  TrainerState s;
  s.step = step_;
  s.data_position = t.GlobalRows();  // global: resumable on another number of data ranks
  s.rng = at::detail::getDefaultCPUGenerator().get_state();
  if (t.distributed()) {
    for (const auto& [name, shard] : t.Shards()) s.model.emplace_back(name, shard.detach().clone());
  } else {
    for (const auto& p : t.model->named_parameters()) s.model.emplace_back(p.key(), p.value().detach().clone());
  }
  // AdamW state in parameter order (the optimizer's param groups).
  int64_t index = 0;
  for (const auto& group : t.optimizer->param_groups()) {
    for (const auto& p : group.params()) {
      const std::string key = std::to_string(index++);
      auto it = t.optimizer->state().find(p.unsafeGetTensorImpl());
      if (it == t.optimizer->state().end()) continue;
      const auto& st = static_cast<const torch::optim::AdamWParamState&>(*it->second);
      s.optimizer.emplace_back(key + ".exp_avg", st.exp_avg().clone());
      s.optimizer.emplace_back(key + ".exp_avg_sq", st.exp_avg_sq().clone());
      s.optimizer.emplace_back(key + ".step", at::scalar_tensor(static_cast<double>(st.step()), at::kDouble));
    }
  }
  return s;
}

void Trainer::Restore(const TrainerState& s) {
  Impl& t = *impl_;
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> targets;
  if (t.distributed()) {
    for (const auto& [name, shard] : t.Shards()) targets.push_back(shard);
  } else {
    for (const auto& p : t.model->parameters()) targets.push_back(p);
  }
  if (targets.size() != s.model.size()) {
    throw ConfigError(ErrorWithFix("trainer state holds " + std::to_string(s.model.size()) + " model tensors, this run " +
                                       std::to_string(targets.size()),
                                   "restore a state taken with the same config and parallel layout"));
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    if (!targets[i].sizes().equals(s.model[i].second.sizes())) {
      throw ConfigError(ErrorWithFix("trainer state tensor '" + s.model[i].first + "' has another shape",
                                     "restore a state taken with the same config and parallel layout"));
    }
    targets[i].copy_(s.model[i].second);
  }
  std::map<std::string, at::Tensor> opt(s.optimizer.begin(), s.optimizer.end());
  int64_t index = 0;
  for (auto& group : t.optimizer->param_groups()) {
    for (auto& p : group.params()) {
      const std::string key = std::to_string(index++);
      if (!opt.count(key + ".exp_avg")) continue;
      auto st = std::make_unique<torch::optim::AdamWParamState>();
      st->exp_avg(opt.at(key + ".exp_avg").clone());
      st->exp_avg_sq(opt.at(key + ".exp_avg_sq").clone());
      st->step(static_cast<int64_t>(opt.at(key + ".step").item<double>()));
      t.optimizer->state()[p.unsafeGetTensorImpl()] = std::move(st);
    }
  }
  step_ = s.step;
  t.SeekGlobalRows(s.data_position, "the trainer state");
  if (s.rng.defined()) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();  // a handle: sets the default generator
    gen.set_state(s.rng);
  }
}

TrainResult RunTraining(const config::LoomConfig& cfg, std::ostream& log, const comm::CommunicatorPtr& world) {
  auto trainer = Trainer::Create(cfg, world);
  std::ostringstream null_log;
  const bool leader = !world || world->rank() == 0;
  trainer->AddObserver(std::make_shared<ConsoleObserver>(leader ? log : null_log, cfg.train.steps,
                                                         cfg.train.log_every));
  CancelOnSignals(trainer.get());
  try {
    while (trainer->Step()) {
    }
    if (!trainer->cancelled()) {
      trainer->Export();
      trainer->Finish();
    }
  } catch (...) {
    CancelOnSignals(nullptr);
    throw;
  }
  CancelOnSignals(nullptr);
  return trainer->result();
}

namespace {
std::atomic<Trainer*> g_signal_trainer{nullptr};
std::atomic<int> g_signals_seen{0};

extern "C" void OnCancelSignal(int sig) {
  if (g_signals_seen.fetch_add(1) > 0) {  // a second signal: stop now
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  if (Trainer* t = g_signal_trainer.load()) t->Cancel(sig);
}
}  // namespace

void CancelOnSignals(Trainer* trainer) {
  g_signal_trainer.store(trainer);
  g_signals_seen.store(0);
  // A rank blocked in a collective with a dead peer never reaches the step
  // boundary: the second signal (or `loom launch`'s SIGKILL after its grace) ends it.
  std::signal(SIGINT, trainer ? OnCancelSignal : SIG_DFL);
  std::signal(SIGTERM, trainer ? OnCancelSignal : SIG_DFL);
}

}  // namespace loom::train
