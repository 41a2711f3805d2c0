# Shared helpers of the CLI end-to-end training tests (sourced; needs $loom,
# $src and $work set, and `set -euo pipefail` in the caller).
tok=$src/.cache/assets/qwen3/tokenizer.json
novel=/usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt

# The first BYTES bytes of the novel, tokenized with the real Qwen3 tokenizer
# into $work/data.
build_novel_dataset() {  # bytes
  head -c "$1" "$novel" > "$work/novel.txt"
  "$loom" data build --tokenizer "$tok" --input "$work/novel.txt" --format text --output "$work/data" >/dev/null
}

# Each run's per-step losses from the run store into $work/RUN.loss.
read_losses() {  # run...
  local run
  for run in "$@"; do
    "$loom" runs show "$run" --db "$work/runs.sqlite" --csv | awk -F, 'NR > 1 { print $2 }' > "$work/$run.loss"
  done
}

# Fails unless RUN has STEPS losses, each within TOL relative of REFERENCE's.
expect_same_losses() {  # reference run steps tol
  paste -d' ' "$work/$1.loss" "$work/$2.loss" | awk -v ref="$1" -v run="$2" -v steps="$3" -v tol="$4" '
    { d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > worst) worst = d; n++ }
    END { printf "%s vs %s: %d steps, worst relative loss difference %.2e (tolerance %g)\n", run, ref, n, worst, tol;
          exit !(n == steps && worst <= tol) }'
}

# A tiny loom_omni config.json on stdout for real chat data (14-pixel
# patches, the Qwen3 tokenizer's ids): a 2-layer Qwen2-VL tower, a 2-layer
# Qwen2-Audio encoder of MELS mel bins and a 2-layer Qwen3.
tiny_omni_json() {  # mels
  cat <<JSON
{"model_type": "loom_omni", "image_token_id": 151655, "video_token_id": 151656,
 "vision_start_token_id": 151652, "vision_end_token_id": 151653, "audio_token_id": 151646,
 "components": {
  "vision": {"depth": 2, "embed_dim": 16, "hidden_size": 32, "num_heads": 2, "patch_size": 14},
  "audio": {"model_type": "qwen2_audio_encoder", "num_mel_bins": $1, "d_model": 16, "encoder_layers": 2,
            "encoder_attention_heads": 2, "encoder_ffn_dim": 24, "max_source_positions": 1500},
  "llm": {"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 32, "intermediate_size": 48,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
          "tie_word_embeddings": false, "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]}}}}
JSON
}
