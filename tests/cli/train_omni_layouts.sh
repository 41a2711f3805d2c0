#!/usr/bin/env bash
# An omni model end to end through the CLI: a loom_omni composition (the
# Qwen2-VL vision tower, the Qwen2-Audio encoder, a Qwen3 foundation with
# M-RoPE) built from model.config with random init, trained on real text
# (the novel, the real Qwen3 tokenizer) whose rows carry synthetic images
# and audio clips (data.synthetic_media), with a plan per component:
#   loom train                                   one process
#   loom launch --nproc 4 -- loom train          vision and audio FSDP 4 + full recompute, LLM HSDP 2 x 2
#   loom launch --nproc 4 -- loom train          encoders FSDP 4 (default), LLM dp_shard 2 x Ulysses SP 2
#   loom launch --nproc 3 -- loom train          an odd world: every component FSDP 3 (against one process
#                                                with the same 3 rows per step)
# Every step's loss must equal one process within 1e-5 relative; the media
# must change the loss (a text-only run differs); the saved directory
# reloads as model.path; `loom plan` shows each component.
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 100000
cat > "$work/omni.json" <<'JSON'
{"model_type": "loom_omni", "image_token_id": 151655, "video_token_id": 151656,
 "vision_start_token_id": 151652, "vision_end_token_id": 151653, "audio_token_id": 151646,
 "components": {
  "vision": {"depth": 2, "embed_dim": 16, "hidden_size": 32, "num_heads": 2, "patch_size": 2},
  "audio": {"model_type": "qwen2_audio_encoder", "num_mel_bins": 8, "d_model": 16, "encoder_layers": 2,
            "encoder_attention_heads": 2, "encoder_ffn_dim": 24, "max_source_positions": 8},
  "llm": {"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 32, "intermediate_size": 48,
          "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
          "tie_word_embeddings": false, "rope_theta": 10000.0,
          "rope_scaling": {"type": "mrope", "mrope_section": [2, 1, 1]}}}}
JSON
common=(--model.config "$work/omni.json" --data.synthetic_media true
        --data.train "$work/data" --data.seq_len 64
        --train.steps 6 --train.warmup_steps 2 --train.lr 3e-3 --train.log_every 100
        --run.db "$work/runs.sqlite" --run.dir "$work/runs")
"$loom" train "${common[@]}" --run.name single --data.micro_batch_size 4 | tee "$work/single.log"
grep -q "vision: one process" "$work/single.log"
"$loom" train "${common[@]}" --run.name text_only --data.micro_batch_size 4 --data.synthetic_media false
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name llm_hsdp2x2 --data.micro_batch_size 1 \
  --parallel.dp_replicate 2 --parallel.dp_shard 2 \
  --components.vision.parallel.dp_replicate 1 --components.vision.parallel.recompute full \
  --components.audio.parallel.dp_replicate 1 --components.audio.parallel.recompute full | tee "$work/hsdp.log"
grep -q "vision: FSDP over 4 ranks, recompute full; audio: FSDP over 4 ranks, recompute full; llm: FSDP over 2 ranks x 2 replicas (HSDP)" "$work/hsdp.log"
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name llm_fsdp2_sp2 --data.micro_batch_size 2 \
  --parallel.dp_shard 2 --parallel.sp 2 | tee "$work/sp.log"
grep -q "vision: FSDP over 4 ranks; audio: FSDP over 4 ranks; llm: FSDP over 4 ranks, Ulysses SP 2 (sync)" "$work/sp.log"
"$loom" train "${common[@]}" --run.name single3 --data.micro_batch_size 3
"$loom" launch --nproc 3 -- "$loom" train "${common[@]}" --run.name odd3 --data.micro_batch_size 1
read_losses single text_only llm_hsdp2x2 llm_fsdp2_sp2 single3 odd3
for run in llm_hsdp2x2 llm_fsdp2_sp2; do expect_same_losses single $run 6 1e-5; done
expect_same_losses single3 odd3 6 1e-5
# The media move the loss by more than the parity tolerance (else parity would prove nothing about them).
if expect_same_losses single text_only 6 1e-5; then
  echo "the synthetic media did not change the loss: the encoders' outputs never reached the LLM" >&2; exit 1
fi
# The saved composition reloads as model.path (one more step from its weights).
final=$work/runs/llm_hsdp2x2/final
test -f "$final/config.json" && test -f "$final/model.safetensors"
"$loom" train --model.path "$final" --data.synthetic_media true --data.train "$work/data" --data.seq_len 64 \
  --train.steps 1 --run.name reload --run.db "$work/runs.sqlite" --run.dir "$work/runs" --data.micro_batch_size 4
# A composition from pretrained parts ({"from": DIR}): the vision tower and the
# LLM of the saved run, the audio encoder from the seeded init; sharded
# construction reads each part from its checkpoint (FSDP 4 equals one process).
cat > "$work/composed.json" <<JSON
{"model_type": "loom_omni", "image_token_id": 151655, "video_token_id": 151656,
 "vision_start_token_id": 151652, "vision_end_token_id": 151653, "audio_token_id": 151646,
 "components": {"vision": {"from": "$final"}, "llm": {"from": "$final"},
  "audio": {"model_type": "qwen2_audio_encoder", "num_mel_bins": 8, "d_model": 16, "encoder_layers": 2,
            "encoder_attention_heads": 2, "encoder_ffn_dim": 24, "max_source_positions": 8}}}
JSON
parts=(--model.config "$work/composed.json" --data.synthetic_media true --data.train "$work/data" --data.seq_len 64
       --train.steps 3 --run.db "$work/runs.sqlite" --run.dir "$work/runs" --train.log_every 100)
"$loom" train "${parts[@]}" --run.name parts1 --data.micro_batch_size 4 | tee "$work/parts.log"
grep -q "from its parts' checkpoints (llm from $final, vision from $final) and HF's random init (seed 1234) for the rest" "$work/parts.log"
"$loom" launch --nproc 4 -- "$loom" train "${parts[@]}" --run.name parts4 --data.micro_batch_size 1
read_losses parts1 parts4
expect_same_losses parts1 parts4 3 1e-5
# A plan per component; errors name the component key.
"$loom" plan --world 4 "${common[@]}" --parallel.dp_shard 2 --parallel.sp 2 --memory-budget 1GiB > "$work/plan.txt"
cat "$work/plan.txt"
grep -q "^plan vision (qwen2_vision, " "$work/plan.txt"
grep -q "^plan audio (qwen2_audio_encoder, " "$work/plan.txt"
grep -q "^plan llm (qwen3, .*Ulysses SP 2" "$work/plan.txt"
grep -q "memory budget 1GiB: the longest row that fits is" "$work/plan.txt"
expect_error() {  # expected-message command...
  local want=$1; shift
  if "$@" > "$work/err.txt" 2>&1; then echo "expected failure: $*" >&2; exit 1; fi
  grep -qF "$want" "$work/err.txt" || { echo "wrong error for $*:" >&2; cat "$work/err.txt" >&2; exit 1; }
}
expect_error "components.vision.parallel.sp 2: component 'vision' attends over whole images" \
  "$loom" plan --world 4 "${common[@]}" --components.vision.parallel.sp 2
expect_error "components.decoder.parallel.recompute: the model has no component 'decoder' (its components: vision, audio, llm)" \
  "$loom" plan --world 4 "${common[@]}" --components.decoder.parallel.recompute full
expect_error "components.vision.parallel.recompute" \
  "$loom" plan --world 4 "${common[@]}" --components.vision.parallel.recompute most
expect_error "model.hidden_size is set, but $work/omni.json is an omni model" \
  "$loom" plan --world 4 "${common[@]}" --model.hidden_size 64
