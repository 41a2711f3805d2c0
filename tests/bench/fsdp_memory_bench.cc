// FSDP memory benchmark (run by fsdp_memory_bench.sh under `loom launch`).
// A tracking CPU allocator counts every byte LibTorch allocates in this
// process. Each rank reports:
//   state_bytes  bytes held after two optimizer steps with grads kept
//                (parameters + gradients + AdamW state: what FSDP shards)
//   peak_bytes   the peak during those steps (adds activations and the
//                units gathered in flight)
//   export_*_peak_bytes  the extra peak while gathering the full state for
//                export: every rank keeping it, or rank 0 only
//   construct_*_peak_bytes  the peak while the model is built and sharded:
//                whole (every rank materialises the model first) or sharded
//                (meta device; each rank fills only its shards)
// With --recompute none|full|selective on one process it reports the peak of
// one forward+backward, to show recompute's activation saving.
#include <cstdio>
#include <string>

#include <ATen/ATen.h>

#include "models/llm/decoder_lm.h"
#include "models/llm/weight_sources.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "parallel/recompute/recompute.h"
#include "sdk/runtime/world.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"
#include "tests/bench/tracking_allocator.h"

namespace {


loom::models::LlmConfig ParamHeavy() {
  // ~10M parameters, tiny activations: parameters dominate.
  loom::models::LlmConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 4096, c.hidden_size = 384, c.intermediate_size = 1536, c.num_hidden_layers = 4;
  c.num_attention_heads = 6, c.num_key_value_heads = 2, c.head_dim = 64, c.qk_norm = true;
  c.tie_word_embeddings = false;
  return c;
}

loom::data::PackedBatch Batch(int64_t rows, int64_t len) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(3);
  loom::data::PackedBatch b;
  b.input_ids = at::randint(4096, {rows, len}, g);
  b.labels = at::full_like(b.input_ids, loom::data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(b.input_ids.slice(1, 1));
  b.position_ids = at::arange(len).expand({rows, len}).contiguous();
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  auto* tracker = loom::bench::TrackingAllocator::Install();
  const std::string recompute = argc > 2 && std::string(argv[1]) == "--recompute" ? argv[2] : "";
  loom::config::TrainConfig tc;
  if (!recompute.empty()) {
    // Activation memory of one step at a long sequence, one process.
    auto cfg = ParamHeavy();
    cfg.hidden_size = 128, cfg.intermediate_size = 512, cfg.num_attention_heads = 2, cfg.head_dim = 64;
    auto model = std::make_shared<loom::models::DecoderLM>(cfg);
    model->InitWeights(1);
    loom::parallel::ApplyRecompute(*model, loom::parallel::ParseRecomputePolicy(recompute));
    auto batch = Batch(1, 2048);
    const int64_t before = tracker->live();
    tracker->ResetPeak();
    auto loss = model->LossSum({batch.input_ids, batch.position_ids, at::Tensor()}, batch.labels, 512);
    loss.backward();
    std::printf("recompute %s activation_peak_bytes %lld\n", recompute.c_str(),
                static_cast<long long>(tracker->peak() - before));
    return 0;
  }
  // --construct whole: every rank builds and initialises the full model, then
  // shards it; sharded (the trainer's way): the model is built on the meta
  // device and FSDP fills each rank's shards from the initialiser.
  const bool whole = argc > 2 && std::string(argv[1]) == "--construct" && std::string(argv[2]) == "whole";
  const auto info = loom::runtime::WorldInfoFromEnv();
  const int64_t baseline = tracker->live();
  tracker->ResetPeak();
  const bool sharded = info.world_size > 1 && !whole;
  auto model = std::make_shared<loom::models::DecoderLM>(ParamHeavy(), sharded ? at::kMeta : at::kCPU);
  loom::models::HfInitSource init(model->config().initializer_range, 1);
  if (!sharded) loom::models::FillParameters(*model, init);
  std::unique_ptr<loom::parallel::FsdpModel> fsdp;
  std::unique_ptr<torch::optim::AdamW> opt;
  loom::train::StepOptions so;
  loom::parallel::ProcessGroups groups;
  if (info.world_size > 1) {
    auto world = loom::runtime::JoinWorld(info, {});
    groups = loom::parallel::BuildProcessGroups(loom::parallel::ParallelState::Create(info.world_size, {}), world);
    fsdp = std::make_unique<loom::parallel::FsdpModel>(model, groups, loom::parallel::FsdpOptions{},
                                                       sharded ? &init : nullptr);
    opt = loom::train::BuildAdamW(fsdp->ShardParameters(true), fsdp->ShardParameters(false), tc);
    so.clip_grad_norm = [&](double m) { return fsdp->ClipGradNorm(m); };
  } else {
    opt = loom::train::BuildAdamW(model->parameters(), tc);
  }
  const int64_t construct_peak = tracker->peak() - baseline;
  tracker->ResetPeak();
  auto batch = Batch(1, 64);
  for (int i = 0; i < 2; ++i) loom::train::TrainStep(*model, *opt, {batch}, so);
  std::printf("rank %d world %d params %lld construct_%s_peak_bytes %lld state_bytes %lld peak_bytes %lld\n",
              info.rank, info.world_size, static_cast<long long>(model->config().NumParameters()),
              whole ? "whole" : "sharded", static_cast<long long>(construct_peak),
              static_cast<long long>(tracker->live() - baseline), static_cast<long long>(tracker->peak() - baseline));
  if (fsdp) {
    // Export: the extra peak while gathering the full state, every rank
    // keeping it vs rank 0 only (what the trainer does).
    int64_t extra[2];
    for (bool rank0_only : {false, true}) {
      const int64_t before = tracker->live();
      tracker->ResetPeak();
      { auto state = fsdp->GatherFullState(rank0_only); }
      extra[rank0_only] = tracker->peak() - before;
    }
    std::printf("rank %d export_all_peak_bytes %lld export_rank0_only_peak_bytes %lld\n", info.rank,
                static_cast<long long>(extra[0]), static_cast<long long>(extra[1]));
  }
  return 0;
}
