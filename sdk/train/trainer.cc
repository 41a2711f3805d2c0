#include "sdk/train/trainer.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <torch/utils.h>

#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"
#include "models/llm/weight_sources.h"
#include "parallel/expert/expert_dispatcher.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "parallel/plan/model_layout.h"
#include "parallel/recompute/recompute.h"
#include "parallel/ulysses/ulysses_attention.h"
#include "ops/base/error.h"
#include "sdk/config/load_config.h"
#include "sdk/data/packing.h"
#include "sdk/data/token_dataset.h"
#include "sdk/metrics/memory.h"
#include "sdk/metrics/progress.h"
#include "sdk/metrics/run_store.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/sequence_slice.h"
#include "sdk/train/train_step.h"

namespace loom::train {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The model and where its parameter values come from: model.path's
// checkpoint, or HF's random init seeded with train.seed. A sharded (FSDP)
// run builds it on the meta device and never materialises it: each rank
// fills only its shards from the source (FsdpModel). One process fills it whole.
struct BuiltModel {
  std::shared_ptr<models::DecoderLM> model;
  std::unique_ptr<models::ParameterSource> source;
};

BuiltModel BuildModel(const config::LoomConfig& cfg, bool sharded) {
  const auto config = ModelConfigOf(cfg.model);
  BuiltModel built;
  built.model = std::make_shared<models::DecoderLM>(config, sharded ? at::Device(at::kMeta) : at::Device(at::kCPU));
  if (!cfg.model.path.empty()) {
    built.source = std::make_unique<models::HfCheckpointSource>(cfg.model.path, models::ShapesOf(*built.model),
                                                                config.tie_word_embeddings);
  } else {
    built.source = std::make_unique<models::HfInitSource>(config.initializer_range,
                                                          static_cast<uint64_t>(cfg.train.seed));
  }
  if (!sharded) models::FillParameters(*built.model, *built.source);
  return built;
}

// Parallel state of a distributed run: the mesh, its groups, the FSDP model.
struct Distributed {
  parallel::ProcessGroups groups;
  std::unique_ptr<parallel::FsdpModel> fsdp;
  // Every rank holds distinct tokens (data ranks x sequence slices).
  double Sum(double v) const { return comm::AllReduceSum(*groups.world, v); }
  data::PackedBatch Slice(const data::PackedBatch& b) const {
    return SliceSequence(b, groups.sp->rank(), groups.sp->size());
  }
};

bool Sharded(const comm::CommunicatorPtr& world) { return world && world->size() > 1; }

std::unique_ptr<Distributed> Distribute(const config::LoomConfig& cfg, const comm::CommunicatorPtr& world,
                                        const BuiltModel& built) {
  if (!Sharded(world)) return nullptr;
  const auto& model = built.model;
  const auto& p = cfg.parallel;
  const auto& mc = model->config();
  parallel::CheckModelLayout(mc, p.sp, p.ep);
  const auto state = parallel::ParallelState::Create(
      world->size(), {static_cast<int>(p.dp_replicate), static_cast<int>(p.dp_shard), static_cast<int>(p.sp),
                      static_cast<int>(p.ep)});
  auto d = std::make_unique<Distributed>();
  d->groups = parallel::BuildProcessGroups(state, world);
  if (p.sp > 1) {
    model->SetAttentionBackend(std::make_shared<parallel::UlyssesAttention>(
        d->groups.sp, p.sp_mode == "async" ? parallel::UlyssesMode::kAsync : parallel::UlyssesMode::kSync));
  }
  if (p.ep > 1) {
    model->SetExpertDispatcher(std::make_shared<parallel::ExpertParallelDispatcher>(
        d->groups.ep, parallel::ExpertParallelOptions{p.ep_overlap_chunks}));
  }
  parallel::SumRouterStatsOver(model->router_stats(), d->groups.world);  // MoE: global aux loss
  parallel::FsdpOptions fo;
  fo.layers_per_unit = static_cast<int>(p.fsdp_layers_per_unit);
  fo.reshard_after_forward = p.reshard_after_forward;
  fo.prefetch = p.prefetch;
  fo.param_dtype = parallel::ParseFsdpDtype(p.param_dtype, "parallel.param_dtype");
  fo.reduce_dtype = parallel::ParseFsdpDtype(p.reduce_dtype, "parallel.reduce_dtype");
  fo.offload = p.cpu_offload;
  d->fsdp = std::make_unique<parallel::FsdpModel>(model, d->groups, fo, built.source.get());
  return d;
}

// How the model was built, for the log and the run store. Collective when
// sharded: the checkpoint bytes every rank read are summed.
std::string DescribeBuild(const config::LoomConfig& cfg, const BuiltModel& built, const Distributed* dist) {
  std::ostringstream os;
  if (dist) {
    os << "built on the meta device; each of " << dist->groups.world->size() << " ranks filled only its shards";
  } else {
    os << "built whole in one process";
  }
  if (const auto* ckpt = dynamic_cast<const models::HfCheckpointSource*>(built.source.get())) {
    const double bytes = static_cast<double>(ckpt->bytes_read());
    os << " from " << cfg.model.path << " (" << static_cast<int64_t>(dist ? dist->Sum(bytes) : bytes)
       << (dist ? " checkpoint bytes read by all ranks together)" : " checkpoint bytes read)");
  } else {
    os << " from HF's random init (seed " << cfg.train.seed << ")";
  }
  return os.str();
}

}  // namespace

TrainResult RunTraining(const config::LoomConfig& cfg, std::ostream& log, const comm::CommunicatorPtr& world) {
  if (cfg.data.train.empty()) {
    throw ConfigError(ErrorWithFix("data.train is empty", "build a dataset with `loom data build` and set data.train"));
  }
  torch::manual_seed(static_cast<uint64_t>(cfg.train.seed));
  const auto built = BuildModel(cfg, Sharded(world));
  const auto& model = built.model;
  const auto train_data = data::TokenDataset::Open(cfg.data.train);
  if (train_data.info().vocab_size > model->config().vocab_size) {
    throw ConfigError(ErrorWithFix("dataset " + cfg.data.train + " has vocab size " +
                                       std::to_string(train_data.info().vocab_size) + " > the model's " +
                                       std::to_string(model->config().vocab_size),
                                   "set model.vocab_size to at least the tokenizer's vocab size"));
  }
  parallel::ApplyRecompute(*model, parallel::ParseRecomputePolicy(cfg.parallel.recompute));
  const auto dist = Distribute(cfg, world, built);
  const int data_rank = dist ? dist->groups.dp->rank() : 0;
  const int data_world = dist ? dist->groups.dp->size() : 1;
  const bool leader = !world || world->rank() == 0;
  data::PackedLoader loader(train_data, cfg.data.seq_len, cfg.data.micro_batch_size,
                            static_cast<uint64_t>(cfg.train.seed), data_rank, data_world);
  std::unique_ptr<data::TokenDataset> eval_data;
  std::vector<data::PackedBatch> eval_batches;
  if (!cfg.data.eval.empty() && cfg.train.eval_every > 0) {
    eval_data = std::make_unique<data::TokenDataset>(data::TokenDataset::Open(cfg.data.eval));
    data::PackedLoader eval_loader(*eval_data, cfg.data.seq_len, cfg.data.micro_batch_size, 0, data_rank,
                                   data_world, 1);
    for (int64_t i = 0; i < cfg.train.eval_batches && !eval_loader.done(); ++i) {
      eval_batches.push_back(dist ? dist->Slice(eval_loader.Next()) : eval_loader.Next());
    }
  }

  auto optimizer = dist ? BuildAdamW(dist->fsdp->ShardParameters(true), dist->fsdp->ShardParameters(false), cfg.train)
                        : BuildAdamW(model->parameters(), cfg.train);
  StepOptions step_options;
  if (dist) UseFsdp(&step_options, dist->fsdp.get(), dist->groups.world);
  step_options.grad_clip = cfg.train.grad_clip;
  step_options.loss_chunk_size = cfg.train.loss_chunk_size;
  step_options.bf16 = cfg.train.dtype == "bf16";

  const std::string build = DescribeBuild(cfg, built, dist.get());

  // Rank 0 records the run; the others compute and communicate only.
  std::unique_ptr<metrics::RunStore> store;
  TrainResult result;
  if (leader) {
    store = std::make_unique<metrics::RunStore>(cfg.run.db);
    result.run_id = store->CreateRun(cfg.run.name, config::ToJson(cfg).dump(), world ? world->size() : 1);
  }
  std::ostringstream null_log;
  std::ostream& out = leader ? log : null_log;
  out << "loom train: run " << result.run_id << " '" << cfg.run.name << "': " << cfg.model.family << " with "
      << model->config().NumParameters() << " parameters, " << train_data.info().n_tokens
      << " training tokens, " << cfg.train.steps << " steps of " << cfg.train.grad_accum << " x "
      << cfg.data.micro_batch_size << " x " << cfg.data.seq_len << " tokens per data rank ("
      << data_world << "), " << (dist ? "FSDP over " + std::to_string(dist->groups.fsdp->size()) + " ranks" : "one process")
      << (dist && cfg.parallel.sp > 1 ? ", Ulysses SP " + std::to_string(cfg.parallel.sp) + " (" + cfg.parallel.sp_mode + ")" : "")
      << (dist && cfg.parallel.ep > 1 ? ", EP " + std::to_string(cfg.parallel.ep) + " (" +
                                            std::to_string(model->config().num_experts / cfg.parallel.ep) +
                                            " experts per rank" +
                                            (cfg.parallel.ep_overlap_chunks > 1
                                                 ? ", overlapped x" + std::to_string(cfg.parallel.ep_overlap_chunks)
                                                 : "") + ")"
                                      : "")
      << "; run store " << cfg.run.db << "\n"
      << "loom train: " << build << "\n";
  if (store) store->LogEvent(result.run_id, 0, "build", build);
  std::unique_ptr<metrics::ProgressLine> progress;
  if (leader) progress = std::make_unique<metrics::ProgressLine>(cfg.train.steps);
  try {
    for (int64_t step = 0; step < cfg.train.steps; ++step) {
      const double lr = LearningRate(cfg.train, step);
      SetLearningRate(*optimizer, lr);
      const auto t0 = Clock::now();
      std::vector<data::PackedBatch> micro;
      for (int64_t i = 0; i < cfg.train.grad_accum; ++i) micro.push_back(dist ? dist->Slice(loader.Next()) : loader.Next());
      const StepStats stats = TrainStep(*model, *optimizer, micro, step_options);
      const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
      metrics::StepMetrics m;
      m.step = step;
      m.loss = stats.loss;
      m.lr = lr;
      m.grad_norm = stats.grad_norm;
      m.step_time_s = seconds;
      m.tokens_per_s = (dist ? dist->Sum(static_cast<double>(stats.tokens)) : static_cast<double>(stats.tokens)) / seconds;
      m.peak_mem_bytes = metrics::PeakRssBytes();
      if (!stats.expert_tokens.empty()) {  // MoE: aux loss and assignments per decoder layer and expert
        m.extra["aux_loss"] = stats.aux_loss;
        auto& tokens = m.extra["expert_tokens"];
        for (size_t i = 0; i < stats.expert_tokens.size(); ++i) {
          tokens[std::to_string(model->sparse_layers()[i])] = stats.expert_tokens[i];
        }
      }
      if (!eval_batches.empty() && ((step + 1) % cfg.train.eval_every == 0 || step + 1 == cfg.train.steps)) {
        result.last_eval_loss = EvalLoss(*model, eval_batches, step_options);
        m.extra["eval_loss"] = result.last_eval_loss;
        if (store) store->LogEvent(result.run_id, step, "eval", "eval_loss=" + std::to_string(result.last_eval_loss));
      }
      if (!std::isfinite(stats.loss)) {
        throw Error(ErrorWithFix("loss is " + std::to_string(stats.loss) + " at step " + std::to_string(step),
                                 "lower train.lr or enable train.grad_clip"));
      }
      if (store) store->LogStep(result.run_id, m);
      if (step == 0) result.first_loss = stats.loss;
      result.last_loss = stats.loss;
      if (progress && cfg.train.log_every > 0 && (step % cfg.train.log_every == 0 || step + 1 == cfg.train.steps)) {
        progress->Update(m);
      }
    }
    if (progress) progress->Finish();
    result.model_dir = (fs::path(cfg.run.dir) / cfg.run.name / "final").string();
    // Collective when sharded; only rank 0 (which writes) keeps the full state.
    auto state = dist ? dist->fsdp->GatherFullState(/*rank0_only=*/true) : model->StateForExport();
    if (leader) models::SaveHfState(model->config(), std::move(state), result.model_dir);
    if (leader && !cfg.data.tokenizer.empty() && fs::exists(cfg.data.tokenizer)) {
      fs::copy_file(cfg.data.tokenizer, fs::path(result.model_dir) / "tokenizer.json",
                    fs::copy_options::overwrite_existing);
    }
    if (store) {
      store->LogEvent(result.run_id, cfg.train.steps, "checkpoint", "model_dir=" + result.model_dir);
      store->FinishRun(result.run_id, metrics::RunStatus::kCompleted);
    }
  } catch (const std::exception& e) {
    if (store) store->FinishRun(result.run_id, metrics::RunStatus::kFailed, e.what());
    throw;
  }
  out << "loom train: loss " << result.first_loss << " -> " << result.last_loss;
  if (result.last_eval_loss >= 0) out << ", eval loss " << result.last_eval_loss;
  out << "; model written to " << result.model_dir << "\n";
  return result;
}

}  // namespace loom::train
