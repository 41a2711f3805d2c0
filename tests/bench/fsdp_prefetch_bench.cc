// FSDP executor options side by side, under `loom launch --nproc N`: the same
// qwen3 model as fsdp_speed_bench (hidden 256, 4 layers, vocab 8192, random
// init), 1 x 256 tokens per rank per step, timed in one run for
//   fp32, prefetch off | fp32, prefetch on | bf16 params (fp32 reduce),
//   prefetch on | fp32, prefetch on, CPU offload
// Modes run in rounds (off, on, bf16, offload, off, on, ...) and each reports
// its best round, so machine noise hits every mode alike. Rank 0 prints
//   fsdp_bench MODE ms_per_step X gathered_mb_per_step Y prefetched P on_demand D
//   fsdp_prefetch_bench [STEPS] [ROUNDS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string>

#include <ATen/ATen.h>

#include "models/llm/decoder_lm.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "sdk/runtime/world.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"

namespace {

struct Mode {
  const char* name;
  bool prefetch;
  at::ScalarType param_dtype;
  bool offload;
};

loom::models::LlmConfig BenchModel() {
  loom::models::LlmConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 8192, c.hidden_size = 256, c.intermediate_size = 768, c.num_hidden_layers = 4;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 64, c.qk_norm = true;
  c.tie_word_embeddings = true;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::stoi(argv[1]) : 5;
  const int rounds = argc > 2 ? std::stoi(argv[2]) : 2;
  const auto info = loom::runtime::WorldInfoFromEnv();
  if (info.world_size < 2) {
    std::fprintf(stderr, "fsdp_prefetch_bench: run under `loom launch --nproc N` (N >= 2)\n");
    return 2;
  }
  auto world = loom::runtime::JoinWorld(info, {});
  auto groups = loom::parallel::BuildProcessGroups(loom::parallel::ParallelState::Create(info.world_size, {}), world);
  auto g = at::make_generator<at::CPUGeneratorImpl>(1234);
  auto ids = at::randint(8192, {info.world_size, 256}, g).slice(0, info.rank, info.rank + 1).contiguous();
  loom::data::PackedBatch b;
  b.input_ids = ids;
  b.labels = at::full_like(ids, loom::data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(ids.slice(1, 1));
  b.position_ids = at::arange(ids.size(1)).expand(ids.sizes()).contiguous();
  const Mode modes[] = {{"fp32_prefetch_off", false, at::kFloat, false},
                        {"fp32_prefetch_on", true, at::kFloat, false},
                        {"bf16_params_prefetch_on", true, at::kBFloat16, false},
                        {"fp32_prefetch_on_cpu_offload", true, at::kFloat, true}};
  constexpr int kModes = sizeof(modes) / sizeof(modes[0]);
  double best[kModes];
  std::fill(best, best + kModes, std::numeric_limits<double>::infinity());
  loom::parallel::FsdpStats last[kModes];
  for (int round = 0; round < rounds; ++round) {
    for (int m = 0; m < kModes; ++m) {
      auto model = std::make_shared<loom::models::DecoderLM>(BenchModel());
      model->InitWeights(7);
      loom::parallel::FsdpOptions fo;
      fo.prefetch = modes[m].prefetch;
      fo.param_dtype = modes[m].param_dtype;
      fo.offload = modes[m].offload;
      loom::parallel::FsdpModel fsdp(model, groups, fo);
      loom::config::TrainConfig tc;
      tc.lr = 1e-4;
      auto opt = loom::train::BuildAdamW(fsdp.ShardParameters(true), fsdp.ShardParameters(false), tc);
      loom::train::StepOptions so;
      so.loss_chunk_size = 4096;
      loom::train::UseFsdp(&so, &fsdp, groups.dp);
      loom::train::TrainStep(*model, *opt, {b}, so);  // warm-up
      const auto before = fsdp.stats();
      groups.world->Barrier()->Wait();
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < steps; ++i) loom::train::TrainStep(*model, *opt, {b}, so);
      groups.world->Barrier()->Wait();
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      best[m] = std::min(best[m], ms / steps);
      auto& s = last[m];
      s = fsdp.stats();
      s.bytes_gathered -= before.bytes_gathered;
      s.gathers_prefetched += s.regathers_prefetched - before.gathers_prefetched - before.regathers_prefetched;
      s.gathers_on_demand += s.regathers_on_demand - before.gathers_on_demand - before.regathers_on_demand;
    }
  }
  if (info.rank != 0) return 0;
  for (int m = 0; m < kModes; ++m) {
    std::printf("fsdp_bench %s ms_per_step %.2f gathered_mb_per_step %.2f prefetched %lld on_demand %lld\n",
                modes[m].name, best[m], static_cast<double>(last[m].bytes_gathered) / steps / 1e6,
                static_cast<long long>(last[m].gathers_prefetched / steps),
                static_cast<long long>(last[m].gathers_on_demand / steps));
  }
  return 0;
}
