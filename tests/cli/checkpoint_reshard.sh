#!/usr/bin/env bash
# Sharded checkpoints through the CLI: a checkpoint taken under FSDP 4 at
# step 5 resumes under the same layout bit for bit, and under FSDP 2 x SP 2,
# on one process and on 3 ranks (an odd world) within 1e-5 of a straight
# 10-step run. Every layout takes 12 rows per step (micro-batch rows x data
# ranks x accumulation), so the global order and batch are the same; the
# warmup (20 steps) covers the whole run, so the learning rate of a step
# does not depend on train.steps and a 5-step run is the first half of a 10.
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 200000
common=(--model.hidden_size 32 --model.intermediate_size 48 --model.num_hidden_layers 2
        --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 8
        --data.train "$work/data" --data.seq_len 32 --train.steps 10 --train.warmup_steps 20 --train.lr 3e-3
        --train.log_every 100 --data.tokenizer "$tok" --run.db "$work/runs.sqlite" --run.dir "$work/runs")
fsdp4=(--parallel.dp_shard 4 --data.micro_batch_size 3)
"$loom" train "${common[@]}" --run.name single --data.micro_batch_size 4 --train.grad_accum 3
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" "${fsdp4[@]}" --run.name fsdp4
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" "${fsdp4[@]}" --run.name part --train.steps 5 \
  --train.checkpoint_every 5
ckpt=$work/runs/part/checkpoints
[ "$(cat "$ckpt/latest")" = step-00000005 ] || { echo "no step-5 checkpoint: $(ls "$ckpt")" >&2; exit 1; }
ls "$ckpt/step-00000005" | grep -c "^rank-.*\.safetensors$" | grep -qx 4
"$loom" checkpoint list "$ckpt" | tee "$work/list.log"
grep -q "step-00000005  step 5, 4 rank file(s), .* KiB  (latest)" "$work/list.log"
"$loom" checkpoint inspect "$ckpt" | tee "$work/inspect.log"
grep -q "data position  60 global rows" "$work/inspect.log"
grep -q "files          4 rank file(s): sizes and CRC-32 verified" "$work/inspect.log"
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" "${fsdp4[@]}" --run.name same --resume "$ckpt"
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name sp2 --parallel.dp_shard 2 --parallel.sp 2 \
  --data.micro_batch_size 2 --train.grad_accum 3 --resume "$ckpt" | tee "$work/sp2.log"
grep -q "resumed from $ckpt/step-00000005 at step 5" "$work/sp2.log"
"$loom" train "${common[@]}" --run.name one --data.micro_batch_size 4 --train.grad_accum 3 --resume "$ckpt"
"$loom" launch --nproc 3 -- "$loom" train "${common[@]}" --run.name three --data.micro_batch_size 4 --resume "$ckpt"
read_losses single fsdp4 same sp2 one three
tail -n 5 "$work/single.loss" > "$work/single_tail.loss"
tail -n 5 "$work/fsdp4.loss" > "$work/fsdp4_tail.loss"
expect_same_losses fsdp4_tail same 5 0
for run in sp2 one three; do expect_same_losses single_tail $run 5 1e-5; done
# A MoE model: saved under EP 4 (experts sharded over the ranks), resumed under EP 4 (bit for bit against a
# straight EP 4 run), under EP 2 and on one process.
# Its aux loss is per micro-batch (over every rank's rows of it), so these keep one 12-row micro-batch per step.
moe=(--model.family qwen3_moe --model.num_experts 8 --model.num_experts_per_tok 2 --model.moe_intermediate_size 16
     --model.router_aux_loss_coef 0.02 --model.mlp_only_layers 0)
"$loom" train "${common[@]}" "${moe[@]}" --run.name moe_single --data.micro_batch_size 12
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" "${moe[@]}" --run.name moe_part --parallel.ep 4 \
  --data.micro_batch_size 3 --train.steps 5 --train.checkpoint_every 5
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" "${moe[@]}" --run.name moe_ep4 --parallel.ep 4 \
  --data.micro_batch_size 3
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" "${moe[@]}" --run.name moe_same --parallel.ep 4 \
  --data.micro_batch_size 3 --resume "$work/runs/moe_part/checkpoints"
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" "${moe[@]}" --run.name moe_ep2 --parallel.ep 2 \
  --data.micro_batch_size 3 --resume "$work/runs/moe_part/checkpoints"
"$loom" train "${common[@]}" "${moe[@]}" --run.name moe_one --data.micro_batch_size 12 \
  --resume "$work/runs/moe_part/checkpoints"
read_losses moe_single moe_ep2 moe_one moe_ep4 moe_same
tail -n 5 "$work/moe_single.loss" > "$work/moe_tail.loss"
tail -n 5 "$work/moe_ep4.loss" > "$work/moe_ep4_tail.loss"
expect_same_losses moe_ep4_tail moe_same 5 0  # the same EP 4 layout: bit for bit
for run in moe_ep2 moe_one; do expect_same_losses moe_tail $run 5 1e-5; done
# A layout that cannot share the global position evenly is refused before training.
if "$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name odd --parallel.dp_shard 4 \
     --data.micro_batch_size 7 --resume "$ckpt" > "$work/odd.log" 2>&1; then
  echo "a resume at an uneven position was accepted" >&2; exit 1
fi
grep -q "is at global row 60, which 4 data rank(s) of 7-row micro-batches cannot share evenly" "$work/odd.log" \
  || { cat "$work/odd.log"; exit 1; }
echo "checkpoint reshard: ok"
