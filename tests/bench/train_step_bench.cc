// The Loom side of the train-step benchmark: the same model directory and
// batch as train_step_bench.py, trained with Loom's TrainStep.
//   train_step_bench DIR STEPS  ->  "loom_ms_per_step X"
#include <chrono>
#include <cstdio>
#include <string>

#include <ATen/ATen.h>

#include "models/core/safetensors.h"
#include "models/llm/decoder_lm.h"
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
  auto ids = loom::models::Checkpoint::Open(dir + "/batch.safetensors").Get("input_ids").clone();
  loom::data::PackedBatch b;
  b.input_ids = ids;
  b.labels = at::full_like(ids, loom::data::kIgnoreIndex);
  b.labels.slice(1, 0, -1).copy_(ids.slice(1, 1));
  b.position_ids = at::arange(ids.size(1)).expand(ids.sizes()).contiguous();
  b.doc_ids = at::Tensor();  // one document per row, like the PyTorch loop
  loom::config::TrainConfig tc;
  tc.lr = 1e-4;
  auto opt = loom::train::BuildAdamW(model->parameters(), tc);
  loom::train::StepOptions so;
  so.loss_chunk_size = 4096;
  loom::train::TrainStep(*model, *opt, {b}, so);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) loom::train::TrainStep(*model, *opt, {b}, so);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("loom_ms_per_step %.2f\n", ms / steps);
  return 0;
}
