// The Loom side of the train-step benchmarks: the same model directory and
// batch as train_step_bench.py, trained with Loom's TrainStep.
//   train_step_bench DIR STEPS  ->  "loom_ms_per_step X"
// Under `loom launch --nproc N` it trains the model FSDP-sharded over N ranks,
// rank r taking rows r::N of the batch (as fsdp_speed_bench.py does), and
// rank 0 prints "loom_fsdp_ms_per_step X".
#include <chrono>
#include <cstdio>
#include <string>

#include <ATen/ATen.h>

#include "models/core/safetensors.h"
#include "models/llm/decoder_lm.h"
#include "parallel/fsdp/fsdp.h"
#include "parallel/mesh/process_groups.h"
#include "sdk/runtime/world.h"
#include "sdk/train/optimizer.h"
#include "sdk/train/train_step.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: train_step_bench DIR STEPS\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int steps = std::stoi(argv[2]);
  auto model = loom::models::LoadDecoderLM(dir + "/model");
  auto ids = loom::models::SafetensorsFiles::Open(dir + "/batch.safetensors").Get("input_ids").clone();
  const auto info = loom::runtime::WorldInfoFromEnv();
  std::unique_ptr<loom::parallel::FsdpModel> fsdp;
  loom::parallel::ProcessGroups groups;
  if (info.world_size > 1) {
    auto world = loom::runtime::JoinWorld(info, {});
    groups = loom::parallel::BuildProcessGroups(loom::parallel::ParallelState::Create(info.world_size, {}), world);
    fsdp = std::make_unique<loom::parallel::FsdpModel>(model, groups);
    ids = ids.slice(0, info.rank, ids.size(0), info.world_size).contiguous();
  }
  loom::data::PackedBatch b;
  b.input_ids = ids;
  b.labels = at::full_like(ids, loom::data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(ids.slice(1, 1));
  b.position_ids = at::arange(ids.size(1)).expand(ids.sizes()).contiguous();
  b.doc_ids = at::Tensor();  // one document per row, like the PyTorch loop
  loom::config::TrainConfig tc;
  tc.lr = 1e-4;
  auto opt = fsdp ? loom::train::BuildAdamW(fsdp->ShardParameters(true), fsdp->ShardParameters(false), tc)
                  : loom::train::BuildAdamW(model->parameters(), tc);
  loom::train::StepOptions so;
  so.loss_chunk_size = 4096;
  if (fsdp) loom::train::UseFsdp(&so, fsdp.get(), groups.dp);
  loom::train::TrainStep(*model, *opt, {b}, so);  // warm-up
  if (fsdp) groups.world->Barrier()->Wait();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) loom::train::TrainStep(*model, *opt, {b}, so);
  if (fsdp) groups.world->Barrier()->Wait();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!fsdp) std::printf("loom_ms_per_step %.2f\n", ms / steps);
  if (fsdp && info.rank == 0) std::printf("loom_fsdp_ms_per_step %.2f\n", ms / steps);
  return 0;
}
