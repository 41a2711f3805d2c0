// TrainConfig: the typed form of a Loom training config (YAML + dotted
// command-line overrides). Every key, its type, default and meaning is listed
// in sdk/config/train_config.cc (the schema) and docs/config.md.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "models/llm/llm_config.h"

namespace loom::config {

struct ModelConfig {
  // Either a Hugging Face model directory (config.json + *.safetensors) ...
  std::string path;  // "" = build `arch` (or `config`) with random init
  // ... or a config.json to build with HF's random init (any registry
  // family: an LLM, or an omni composition such as loom_omni).
  std::string config;
  // ... or the architecture given here. The keys are LlmConfig's fields (HF
  // config.json names; model.family is arch.model_type), declared once in
  // models/llm/llm_config.h.
  models::LlmConfig arch;
};

struct DataConfig {
  std::string train;           // prefix of a dataset built by `loom data build`
  std::string eval;            // prefix of the held-out split ("" = none)
  std::string tokenizer;       // path to tokenizer.json (for generate/samples)
  int64_t seq_len = 256;       // positions per packed row
  int64_t micro_batch_size = 4;  // rows per micro-batch
  // Omni models: give packed rows synthetic images and audio clips (random
  // pixels / log-mel features behind real placeholder tokens; sdk/data/synthetic_media.h).
  bool synthetic_media = false;
  int64_t prefetch = 2;  // micro-batches a background thread prepares ahead (0: none)
  // Dynamic batching: > 0 makes each micro-batch one row filled with whole
  // conversations up to this cost (sdk/data/chat_packing.h); 0: fixed rows.
  int64_t max_tokens_per_micro_batch = 0;
  double encoder_token_cost = 0.0;  // dynamic batching: LLM tokens one encoder position costs
  int64_t pack_window = 256;        // dynamic batching: conversations packed together
  int64_t pad_to_multiple = 8;      // dynamic batching / no packing: a batch's length rounded up to this
  bool pack = true;  // conversations: false = one per row, micro_batch_size per batch padded to the longest
  // Bad samples met while reading (missing, corrupt or changed files, too
  // long): the run fails once more than this fraction of the samples read
  // were bad (checked from the 20th sample on; 0: any bad sample fails).
  double max_bad_fraction = 0.1;
};

struct TrainConfig {
  int64_t steps = 100;
  double lr = 3e-4;
  double min_lr_ratio = 0.1;   // final lr = lr * min_lr_ratio (cosine/linear)
  int64_t warmup_steps = 10;
  std::string schedule = "cosine";  // cosine | linear | constant
  double weight_decay = 0.1;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double grad_clip = 1.0;      // global-norm clip; 0 = off
  bool fused_adamw = false;    // AdamW's step as LibTorch's fused kernel (sdk/train/fused_adamw.h)
  std::string device = "cpu";  // cpu | cuda (sdk/train/train_device.h)
  int64_t grad_accum = 1;      // micro-batches per optimizer step
  int64_t seed = 1234;
  std::string dtype = "fp32";  // fp32 | bf16 (autocast compute, fp32 master)
  int64_t loss_chunk_size = 1024;  // tokens per chunk of the chunked cross-entropy
  int64_t eval_every = 0;      // steps between evaluations; 0 = off
  int64_t eval_batches = 4;
  int64_t log_every = 1;
  int64_t checkpoint_every = 0;  // steps between sharded checkpoints (and at the end); 0 = off
  int64_t checkpoint_keep = 3;   // committed checkpoints kept (oldest removed); 0 = all
  bool checkpoint_async = true;  // write checkpoints on a background thread (state staged first)
  std::string resume;            // "" | "latest" | "auto" | a checkpoint directory or root
};

struct RunConfig {
  std::string name = "run";
  std::string dir = "runs";            // checkpoints / exports go under dir/name
  std::string db = "runs/loom.sqlite"; // the SQLite run store
  double lost_after_s = 60;            // a running run silent this long reads as `lost`
};

struct ParallelConfig {
  int64_t dp_replicate = 1;
  int64_t dp_shard = -1;  // -1: the rest of the world
  int64_t sp = 1;
  std::string sp_mode = "sync";  // sync | async (Ulysses all-to-all overlap)
  int64_t ep = 1;
  int64_t ep_overlap_chunks = 1;   // EP dispatch: 1 plain; > 1 overlap chunk i+1's all-to-all with chunk i
  std::string recompute = "none";  // none | full | selective
  int64_t fsdp_layers_per_unit = 1;   // FSDP: consecutive decoder layers per unit
  bool reshard_after_forward = true;  // FSDP: free gathered units after forward, re-gather in backward
  bool prefetch = true;               // FSDP: issue the next unit's all-gather ahead
  std::string param_dtype = "fp32";   // FSDP: fp32 | bf16 (gathered parameters, compute)
  std::string reduce_dtype = "fp32";  // FSDP: fp32 | bf16 (gradient reduce-scatter)
  bool cpu_offload = false;           // FSDP: shards, grads, optimizer state on the CPU
};

// components.<name>.parallel.<key>: a parallel.* key for one component of
// the model (an omni model's vision, audio, llm), as its canonical string
// (checked against the parallel.<key> row when set). Component -> key -> value.
using ComponentOverrides = std::map<std::string, std::map<std::string, std::string>>;

struct LoomConfig {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  RunConfig run;
  ParallelConfig parallel;
  ComponentOverrides components;
};

}  // namespace loom::config
