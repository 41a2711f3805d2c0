// The config schema table: every key of LoomConfig, bound to its field.
// One source of truth for loading (load_config.cc), printing (ToYaml/ToJson)
// and docs/config.md (ConfigDocMarkdown). Defaults live in train_config.h's
// in-class initializers and are read from a default LoomConfig, never
// repeated here. To add a key: add the field to train_config.h, add a row
// here, regenerate docs/config.md with `loom config --doc > docs/config.md`.
#include <limits>

#include "models/llm/llm_config.h"
#include "sdk/config/schema.h"

namespace loom::config {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Binds a row to cfg.<section>.<field> and names it "<section>.<field>".
#define LOOM_KEY(section, field) \
  #section "." #field, [](LoomConfig& c) -> FieldRef { return &c.section.field; }
// Binds a row to the architecture field cfg.model.arch.<field>, named "model.<field>".
#define LOOM_ARCH_KEY(field) \
  "model." #field, [](LoomConfig& c) -> FieldRef { return &c.model.arch.field; }

Range AtLeast(double lo) { return Range{.lo = lo}; }
Range Positive() { return Range{.lo = 0, .lo_open = true}; }
Range Between(double lo, double hi, bool hi_open = false) {
  return Range{.lo = lo, .hi = hi, .hi_open = hi_open};
}
Range AtLeastOneOrMinusOne() {
  return Range{.lo = 1, .has_sentinel = true, .sentinel = -1};
}

// The decoder families the model registry builds (models/llm/llm_config.h).
std::vector<std::string> FamilyChoices() {
  std::vector<std::string> out;
  for (const auto& f : models::LlmFamilies()) out.push_back(f.model_type);
  return out;
}

std::vector<ConfigKey> BuildSchema() {
  return {
      // --- model -------------------------------------------------------------
      {LOOM_KEY(model, path),
       "Hugging Face model directory (config.json + *.safetensors); empty = build the "
       "architecture below with random init. With a path, config.json decides the architecture: a "
       "model.* key set to a different value is an error (router_aux_loss_coef and "
       "output_router_logits, when set, override it)", {}, {}},
      {LOOM_KEY(model, config),
       "A config.json to build with HF's random init (train.seed) instead of model.path's weights: any "
       "registry family, e.g. an omni composition (loom_omni, qwen2_vl, qwen2_audio); empty = model.path "
       "or the architecture below", {}, {}},
      {"model.family", [](LoomConfig& c) -> FieldRef { return &c.model.arch.model_type; }, "Architecture family", FamilyChoices(), {}},
      {LOOM_ARCH_KEY(vocab_size), "Vocabulary size (embedding rows)", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(hidden_size), "Width of the residual stream", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(intermediate_size), "Width of the MLP hidden layer", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(num_hidden_layers), "Number of transformer blocks", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(num_attention_heads), "Query heads per layer", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(num_key_value_heads),
       "Key/value heads per layer (grouped-query attention); divides num_attention_heads",
       {}, AtLeast(1)},
      {LOOM_ARCH_KEY(head_dim), "Channels per attention head", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(max_position_embeddings), "Longest sequence the RoPE tables cover", {},
       AtLeast(1)},
      {LOOM_ARCH_KEY(rope_theta), "RoPE base frequency", {}, Positive()},
      {LOOM_ARCH_KEY(rms_norm_eps), "Epsilon inside RMSNorm", {}, Positive()},
      {LOOM_ARCH_KEY(tie_word_embeddings),
       "Share the input embedding and the output projection", {}, {}},
      {LOOM_ARCH_KEY(num_experts), "qwen3_moe: experts per sparse layer", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(num_experts_per_tok), "qwen3_moe: experts each token is routed to (top-k)", {},
       AtLeast(1)},
      {LOOM_ARCH_KEY(moe_intermediate_size), "qwen3_moe: width of each expert's MLP", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(norm_topk_prob), "qwen3_moe: renormalise the top-k router probabilities to sum 1",
       {}, {}},
      {LOOM_ARCH_KEY(decoder_sparse_step),
       "qwen3_moe: layer i is sparse iff (i + 1) % decoder_sparse_step == 0 and i is not in "
       "mlp_only_layers", {}, AtLeast(1)},
      {LOOM_ARCH_KEY(mlp_only_layers), "qwen3_moe: decoder layers that keep a dense MLP (e.g. [0])", {},
       AtLeast(0)},
      {LOOM_ARCH_KEY(router_aux_loss_coef), "qwen3_moe: weight of the load-balancing aux loss", {},
       AtLeast(0)},
      {LOOM_ARCH_KEY(output_router_logits),
       "qwen3_moe: add router_aux_loss_coef x aux loss to the training loss (HF's flag)", {}, {}},
      // --- data --------------------------------------------------------------
      {LOOM_KEY(data, train), "Prefix of the training dataset built by `loom data build`", {},
       {}},
      {LOOM_KEY(data, eval), "Prefix of the held-out split; empty = no evaluation data", {}, {}},
      {LOOM_KEY(data, tokenizer), "Path to tokenizer.json (for generation and samples)", {}, {}},
      {LOOM_KEY(data, seq_len), "Positions per packed row", {}, AtLeast(1)},
      {LOOM_KEY(data, micro_batch_size), "Rows per micro-batch (per rank)", {}, AtLeast(1)},
      {LOOM_KEY(data, prefetch),
       "Micro-batches a background thread prepares ahead (decoding and processing media overlap the step); "
       "0 = prepare each on the training thread. The share of each step spent waiting is recorded "
       "(extra.data_wait_share)", {}, AtLeast(0)},
      {LOOM_KEY(data, max_tokens_per_micro_batch),
       "Dynamic batching: > 0 makes each micro-batch one row of whole conversations whose cost (LLM "
       "positions + data.encoder_token_cost x encoder positions) is at most this, packed first-fit "
       "decreasing; data.micro_batch_size is then 1 and data.seq_len unused. Text datasets take rows "
       "of this many positions. 0 = fixed rows of data.seq_len", {}, AtLeast(0)},
      {LOOM_KEY(data, encoder_token_cost),
       "Dynamic batching: what one encoder position (an image patch, an audio frame after the "
       "convolutions) costs in LLM tokens", {}, AtLeast(0)},
      {LOOM_KEY(data, pack_window), "Dynamic batching: conversations (in shuffled order) packed together",
       {}, AtLeast(1)},
      {LOOM_KEY(data, pad_to_multiple),
       "Dynamic batching, or data.pack false: a batch's length is rounded up to this", {},
       AtLeast(1)},
      {LOOM_KEY(data, pack),
       "Conversations with fixed rows: pack whole conversations into rows of data.seq_len (true), or "
       "put each in its own row, a batch of data.micro_batch_size padded to its longest (false: "
       "fixed-size batching, the baseline dynamic batching is measured against)", {}, {}},
      {LOOM_KEY(data, max_bad_fraction),
       "Bad samples met while training (missing, corrupt or changed media files, conversations longer "
       "than a row) are skipped and counted by reason (extra.bad_samples); the run fails, naming the "
       "last file and reason, once more than this fraction of the samples read were bad (from the 20th "
       "sample on). 0 = any bad sample fails the run", {}, AtLeast(0)},
      {LOOM_KEY(data, synthetic_media),
       "Omni models: give packed rows synthetic images and audio clips (random pixels and log-mel "
       "features behind real placeholder tokens, a function of each row's tokens) until multimodal "
       "datasets land", {}, {}},
      // --- train -------------------------------------------------------------
      {LOOM_KEY(train, steps), "Optimizer steps to run", {}, AtLeast(1)},
      {LOOM_KEY(train, lr), "Peak learning rate (reached after warmup)", {}, AtLeast(0)},
      {LOOM_KEY(train, min_lr_ratio),
       "Final lr = lr x min_lr_ratio at the end of a cosine or linear schedule", {},
       Between(0, 1)},
      {LOOM_KEY(train, warmup_steps), "Steps of linear warmup from 0 to lr", {}, AtLeast(0)},
      {LOOM_KEY(train, schedule), "Learning-rate decay after warmup",
       {"cosine", "linear", "constant"}, {}},
      {LOOM_KEY(train, weight_decay), "AdamW decoupled weight decay", {}, AtLeast(0)},
      {LOOM_KEY(train, beta1), "AdamW first-moment decay", {}, Between(0, 1, true)},
      {LOOM_KEY(train, beta2), "AdamW second-moment decay", {}, Between(0, 1, true)},
      {LOOM_KEY(train, eps), "AdamW denominator epsilon", {}, Positive()},
      {LOOM_KEY(train, grad_clip), "Global gradient-norm clip; 0 = off", {}, AtLeast(0)},
      {LOOM_KEY(train, device),
       "Where the run computes: cpu, or cuda (this process's GPU; one process, decoder LLMs)", {"cpu", "cuda"}, {}},
      {LOOM_KEY(train, fused_adamw),
       "AdamW's step as one fused kernel per parameter group (at::_fused_adamw_, CPU and CUDA; same update)", {}, {}},
      {LOOM_KEY(train, grad_accum), "Micro-batches accumulated per optimizer step", {},
       AtLeast(1)},
      {LOOM_KEY(train, seed), "Seed for initialization and data order", {}, AtLeast(0)},
      {LOOM_KEY(train, dtype), "Compute dtype (bf16 = autocast compute, fp32 master weights)",
       {"fp32", "bf16"}, {}},
      {LOOM_KEY(train, loss_chunk_size), "Tokens per chunk of the chunked cross-entropy", {},
       AtLeast(1)},
      {LOOM_KEY(train, eval_every), "Steps between evaluations; 0 = off", {}, AtLeast(0)},
      {LOOM_KEY(train, eval_batches), "Micro-batches per evaluation", {}, AtLeast(1)},
      {LOOM_KEY(train, log_every), "Steps between log lines (the run store gets every step)",
       {}, AtLeast(1)},
      {LOOM_KEY(train, checkpoint_every),
       "Steps between sharded training checkpoints under run.dir/run.name/checkpoints (and one at the "
       "last step): every rank's slices of the model and AdamW state, the data position, the RNGs; "
       "committed atomically. 0 = off", {}, AtLeast(0)},
      {LOOM_KEY(train, checkpoint_keep), "Committed checkpoints kept (the oldest are removed); 0 = all", {},
       AtLeast(0)},
      {LOOM_KEY(train, checkpoint_async),
       "Write checkpoints on a background thread: the state is copied first, training goes on, and the "
       "checkpoint is committed at the first step boundary after every rank's file is on disk", {}, {}},
      {LOOM_KEY(train, resume),
       "Resume from a checkpoint: 'latest' (this run's newest), 'auto' (latest if one was committed, "
       "else start afresh: what `loom launch --max-restarts` restarts use), a checkpoint root or a step "
       "directory; any layout and world size may load it, and the run store continues the same run. "
       "Empty = start afresh", {}, {}},
      // --- run ---------------------------------------------------------------
      {LOOM_KEY(run, name), "Run name (in the run store and under run.dir)", {}, {}},
      {LOOM_KEY(run, dir), "Directory for checkpoints and exports (run.dir/run.name)", {}, {}},
      {LOOM_KEY(run, db), "SQLite run store that records every step", {}, {}},
      {LOOM_KEY(run, lost_after_s),
       "Seconds without a heartbeat (written every lost_after_s / 4) after which a run still marked "
       "running reads as `lost` (killed outright, or its machine died)", {}, Positive()},
      // --- parallel ----------------------------------------------------------
      {LOOM_KEY(parallel, dp_replicate), "HSDP replicas (data-parallel groups that replicate)",
       {}, AtLeast(1)},
      {LOOM_KEY(parallel, dp_shard), "FSDP shard size; -1 = the rest of the world", {},
       AtLeastOneOrMinusOne()},
      {LOOM_KEY(parallel, sp), "Ulysses sequence-parallel size", {}, AtLeast(1)},
      {LOOM_KEY(parallel, sp_mode),
       "Ulysses all-to-alls: sync, or async (each of q, k, v's exchange overlaps the next projection)",
       {"sync", "async"}, {}},
      {LOOM_KEY(parallel, ep), "Expert-parallel size (carved from dp_shard x sp)", {},
       AtLeast(1)},
      {LOOM_KEY(parallel, ep_overlap_chunks),
       "Expert-parallel dispatch: 1 = plain; N > 1 splits tokens into N chunks and overlaps chunk i+1's "
       "all-to-all with chunk i's expert compute (same numbers)", {}, AtLeast(1)},
      {LOOM_KEY(parallel, recompute),
       "Activation recompute: none, full (every decoder layer) or selective (each layer's MLP)",
       {"none", "full", "selective"}, {}},
      {LOOM_KEY(parallel, fsdp_layers_per_unit),
       "FSDP: consecutive decoder layers gathered, freed and reduce-scattered as one unit (fewer, "
       "larger collectives; more gathered memory)", {}, AtLeast(1)},
      {LOOM_KEY(parallel, reshard_after_forward),
       "FSDP: free each unit's gathered parameters after its forward and gather them again for its "
       "backward (false keeps them: less communication, more memory)", {}, {}},
      {LOOM_KEY(parallel, prefetch),
       "FSDP: issue the next unit's all-gather while the current one computes (forward in layer "
       "order, backward in reverse)", {}, {}},
      {LOOM_KEY(parallel, param_dtype),
       "FSDP: dtype of the gathered parameters the model computes with (shards stay fp32 masters; "
       "bf16 gathers half the bytes)", {"fp32", "bf16"}, {}},
      {LOOM_KEY(parallel, reduce_dtype),
       "FSDP: dtype in which gradients are reduce-scattered (accumulated into fp32 shard gradients)",
       {"fp32", "bf16"}, {}},
      {LOOM_KEY(parallel, cpu_offload),
       "FSDP: keep fp32 shards, their gradients and the optimizer state on the CPU (pinned with CUDA); "
       "each unit's shard is copied to the compute device for its all-gather. On a CPU-only build the "
       "compute device is the CPU too, so this saves no memory: it only adds the staging copies (useful to "
       "test the path)", {}, {}},
  };
}

#undef LOOM_KEY

}  // namespace

const std::vector<ConfigKey>& ConfigSchema() {
  static const std::vector<ConfigKey> schema = BuildSchema();
  return schema;
}

}  // namespace loom::config
