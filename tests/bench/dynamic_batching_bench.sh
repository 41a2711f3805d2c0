#!/usr/bin/env bash
# Benchmark: dynamic batching against fixed-size batching, side by side in
# one run, on a real skewed mix (Brown-corpus paragraphs, emoji captions,
# spoken prompts; scripts/make_mix_jsonl.py) and a small omni model (Qwen2-VL
# tower, Qwen2-Audio encoder, Qwen3 LLM) trained by `loom train` on CPU:
#   fixed    16 conversations per micro-batch, each its own row, padded to
#            the longest (data.pack false): about as many positions per
#            micro-batch as the dynamic budget (the same activation memory)
#   dynamic  one row of whole conversations up to 2048 tokens per micro-batch
#            (data.max_tokens_per_micro_batch)
# Prints each one's padding fraction and tokens/s (median over the steps
# after the first, from the run store), and the ratio. Targets: padding
# <= 5% and throughput >= 1.3x fixed-size; exit 1 when missed.
set -euo pipefail
loom=$1; src=$2; steps=${3:-8}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
tok=$src/.cache/assets/qwen3/tokenizer.json
python3 "$src/scripts/make_mix_jsonl.py" "$src/.cache/assets" "$work/mix.jsonl" 600 300 200
"$loom" data build --format chat --tokenizer "$tok" --input "$work/mix.jsonl" --output "$work/mix" \
  --audio-start "<|box_start|>" --audio-pad "<|object_ref_start|>" --audio-end "<|box_end|>" | tail -1
cat > "$work/omni.json" <<JSON
{"model_type": "loom_omni", "image_token_id": 151655, "video_token_id": 151656,
 "vision_start_token_id": 151652, "vision_end_token_id": 151653, "audio_token_id": 151646,
 "components": {
  "vision": {"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2, "patch_size": 14},
  "audio": {"model_type": "qwen2_audio_encoder", "num_mel_bins": 80, "d_model": 32, "encoder_layers": 1,
            "encoder_attention_heads": 2, "encoder_ffn_dim": 64, "max_source_positions": 1500},
  "llm": {"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 64, "intermediate_size": 128,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
          "tie_word_embeddings": true, "rope_scaling": {"type": "mrope", "mrope_section": [4, 2, 2]}}}}
JSON
common=(--model.config "$work/omni.json" --data.train "$work/mix" --data.seq_len 2048 --train.steps "$steps"
        --train.warmup_steps 1 --train.log_every 1000 --run.db "$work/runs.sqlite" --run.dir "$work/runs")
"$loom" train "${common[@]}" --run.name fixed --data.pack false --data.micro_batch_size 16 > /dev/null
"$loom" train "${common[@]}" --run.name dynamic --data.max_tokens_per_micro_batch 2048 > /dev/null
python3 - "$work/runs.sqlite" <<'PY'
import json, sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1])
def stats(name):
    rows = db.execute("SELECT s.tokens_per_s, s.step_time_s, s.extra FROM steps s JOIN runs r ON r.id = s.run_id "
                      "WHERE r.name = ? ORDER BY s.step", (name,)).fetchall()
    pad = statistics.mean(json.loads(e)["padding_fraction"] for _, _, e in rows)
    tokens = statistics.mean(t * s for t, s, _ in rows)  # real tokens per micro-batch (one per step)
    return pad, statistics.median(t for t, _, _ in rows[1:]), tokens
fixed_pad, fixed_tps, fixed_tokens = stats("fixed")
dyn_pad, dyn_tps, dyn_tokens = stats("dynamic")
print(f"fixed-size batching (16 conversations, padded): padding {fixed_pad:.2%}, {fixed_tps:,.0f} tokens/s, "
      f"{fixed_tokens:,.0f} real tokens per micro-batch ({fixed_tokens / (1 - fixed_pad):,.0f} positions)")
print(f"dynamic batching (2048-token budget):          padding {dyn_pad:.2%}, {dyn_tps:,.0f} tokens/s, "
      f"{dyn_tokens:,.0f} real tokens per micro-batch ({dyn_tokens / 2048:.0%} of the budget)")
ratio = dyn_tps / fixed_tps
print(f"ratio dynamic/fixed tokens/s: {ratio:.2f}x (target >= 1.3x); dynamic padding {dyn_pad:.2%} (target <= 5%)")
sys.exit(0 if ratio >= 1.3 and dyn_pad <= 0.05 else 1)
PY
