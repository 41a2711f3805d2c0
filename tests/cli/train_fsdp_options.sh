#!/usr/bin/env bash
# End to end through the CLI: FSDP executor options reach the trainer.
#   loom train                                          one process (reference)
#   loom launch --nproc 2 -- loom train                 FSDP 2, prefetch off, CPU offload: exact
#   loom launch --nproc 2 -- loom train                 FSDP 2, bf16 params, bf16 reduce: close
#   loom launch --nproc 2 -- loom train                 FSDP 2, both layers one unit, no reshard: exact
#   loom config --parallel.param_dtype fp16             rejected, naming fp32 and bf16
# Every step's loss (`loom runs show --csv`) must agree with the reference:
# within 1e-5 relative (fp32), 5e-3 (bf16 gathered parameters).
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 200000
common=(--model.hidden_size 32 --model.intermediate_size 48 --model.num_hidden_layers 2
        --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 8
        --data.train "$work/data" --data.seq_len 64 --data.micro_batch_size 2
        --train.steps 6 --train.warmup_steps 2 --train.lr 3e-3 --train.log_every 100
        --data.tokenizer "$tok" --run.db "$work/runs.sqlite" --run.dir "$work/runs")
"$loom" train "${common[@]}" --run.name single --data.micro_batch_size 4
"$loom" launch --nproc 2 -- "$loom" train "${common[@]}" --run.name offload --parallel.dp_shard 2 \
  --parallel.prefetch false --parallel.cpu_offload true
"$loom" launch --nproc 2 -- "$loom" train "${common[@]}" --run.name bf16 --parallel.dp_shard 2 \
  --parallel.param_dtype bf16 --parallel.reduce_dtype bf16
"$loom" launch --nproc 2 -- "$loom" train "${common[@]}" --run.name units --parallel.dp_shard 2 \
  --parallel.fsdp_layers_per_unit 2 --parallel.reshard_after_forward false
read_losses single offload bf16 units
expect_same_losses single offload 6 1e-5
expect_same_losses single units 6 1e-5
expect_same_losses single bf16 6 5e-3
# bf16 must really be in effect: not bit-identical to fp32.
if cmp -s "$work/single.loss" "$work/bf16.loss"; then echo "bf16 parameters gave bit-identical losses"; exit 1; fi
set +e
err=$("$loom" config --parallel.param_dtype fp16 2>&1); rc=$?
set -e
echo "$err"
[ "$rc" = 2 ] || { echo "fp16: exit $rc, expected 2"; exit 1; }
echo "$err" | grep -q "fp32, bf16" || { echo "fp16: the error does not name fp32, bf16"; exit 1; }
echo "train_fsdp_options: ok"
