#!/usr/bin/env bash
# End to end through the CLI: one config, five layouts, the same losses.
#   loom data build (real Qwen3 tokenizer, real novel)
#   loom train                                   one process
#   loom launch --nproc 2 -- loom train          FSDP 2 + gradient accumulation 2
#   loom launch --nproc 4 -- loom train ...      HSDP 2 x 2 + full recompute
#   loom launch --nproc 4 -- loom train ...      FSDP 2 x Ulysses SP 2
#   loom launch --nproc 4 -- loom train ...      Ulysses SP 4, async
# Each step sees the same 4 rows in every layout.
# Every step's loss (read back with `loom runs show --csv`) must agree within
# 1e-5 relative; then `loom export` and `loom generate` run on the result.
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 200000
common=(--model.hidden_size 32 --model.intermediate_size 48 --model.num_hidden_layers 2
        --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 8
        --data.train "$work/data" --data.seq_len 64
        --train.steps 6 --train.warmup_steps 2 --train.lr 3e-3 --train.log_every 100
        --data.tokenizer "$tok" --run.db "$work/runs.sqlite" --run.dir "$work/runs")
"$loom" train "${common[@]}" --run.name single --data.micro_batch_size 4
"$loom" launch --nproc 2 -- "$loom" train "${common[@]}" --run.name fsdp2 --parallel.dp_shard 2 --train.grad_accum 2 \
  --data.micro_batch_size 1
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name hsdp2x2 --parallel.dp_replicate 2 \
  --parallel.dp_shard 2 --parallel.recompute full --data.micro_batch_size 1
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name fsdp2_sp2 --parallel.dp_shard 2 \
  --parallel.sp 2 --data.micro_batch_size 2
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name sp4_async --parallel.dp_shard 1 \
  --parallel.sp 4 --parallel.sp_mode async --data.micro_batch_size 4
read_losses single fsdp2 hsdp2x2 fsdp2_sp2 sp4_async
for run in fsdp2 hsdp2x2 fsdp2_sp2 sp4_async; do expect_same_losses single $run 6 1e-5; done
"$loom" export hsdp2x2 --db "$work/runs.sqlite" --to-hf "$work/export"
"$loom" generate --model "$work/export" --prompt "Call me Ishmael" --max-new-tokens 5
