// The training loop behind `loom train`: builds (or loads) the model, packs
// the tokenized dataset, runs AdamW steps with the schedule, accumulation,
// clipping and optional bf16 autocast, evaluates every K steps on the
// held-out split, records everything in the SQLite run store, shows a live
// progress line, and writes the final model as a Hugging Face directory.
//
// Determinism: with the same config and seed, two CPU runs produce the same
// losses bit for bit (model init, data order and math are all seeded).
// Distributed: given a world communicator of N > 1 ranks (from `loom launch`),
// the model is built on the meta device and each rank fills only its shards
// (from HF init or model.path's safetensors: sharded construction),
// parameters are FSDP/HSDP-sharded per parallel.* (dp_replicate x dp_shard),
// each data rank reads its own rows, the loss is normalised by the global
// label-token count, rank 0 writes the run store and the final model
// (gathered from the shards to rank 0 only). Any layout gives the one-process losses.
#pragma once

#include <ostream>
#include <string>

#include "models/llm/llm_config.h"
#include "parallel/comm/communicator.h"
#include "sdk/config/train_config.h"
#include "sdk/train/model_config.h"

namespace loom::train {

struct TrainResult {
  int64_t run_id = 0;
  double first_loss = 0;
  double last_loss = 0;
  double last_eval_loss = -1;  // -1: no evaluation ran
  std::string model_dir;       // the final HF model directory
};

// `world` may be null (one process).
TrainResult RunTraining(const config::LoomConfig& cfg, std::ostream& log,
                        const comm::CommunicatorPtr& world = nullptr);

}  // namespace loom::train
