#!/usr/bin/env bash
# End to end through the CLI for a Qwen3-MoE config (layer 0 dense through
# model.mlp_only_layers, layer 1 sparse): one process against
# expert parallelism in three layouts, the same losses (cross-entropy + aux):
#   loom train                                       one process
#   loom launch --nproc 4 -- loom train ... ep 2     EP 2 x expert-FSDP 2 (FSDP 4)
#   loom launch --nproc 4 -- loom train ... ep 4     EP 4, overlapped dispatch (2 chunks), both layers one FSDP unit
#   loom launch --nproc 4 -- loom train ... ep 2 sp 2  EP 2 x Ulysses SP 2 x FSDP 2
# Every step's loss must agree within 1e-5 relative; the run store must hold
# the per-expert token counts; the EP x SP run exports to HF's layout and
# generates; training resumes from that export with sharded loading (EP 2)
# and matches one process; a mismatched config.json fails with the fix; a dense model with parallel.ep 2 must fail before training with
# the fix.
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 100000
common=(--model.family qwen3_moe --model.hidden_size 32 --model.num_hidden_layers 2
        --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 8
        --model.num_experts 8 --model.num_experts_per_tok 2 --model.moe_intermediate_size 16
        --model.router_aux_loss_coef 0.02 --model.mlp_only_layers 0
        --data.train "$work/data" --data.seq_len 32 --data.tokenizer "$tok"
        --train.steps 5 --train.warmup_steps 1 --train.lr 3e-3 --train.log_every 100
        --run.db "$work/runs.sqlite" --run.dir "$work/runs")
"$loom" train "${common[@]}" --run.name single --data.micro_batch_size 4
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name ep2 --parallel.ep 2 --data.micro_batch_size 1
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name ep4_overlap --parallel.ep 4 \
  --parallel.ep_overlap_chunks 2 --parallel.fsdp_layers_per_unit 2 --data.micro_batch_size 1
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --run.name ep2_sp2 --parallel.ep 2 --parallel.sp 2 \
  --parallel.dp_shard 2 --data.micro_batch_size 2
read_losses single ep2 ep4_overlap ep2_sp2
for run in ep2 ep4_overlap ep2_sp2; do expect_same_losses single $run 5 1e-5; done
# (through a file: grep -q stops reading early, and pipefail would see the writer's SIGPIPE)
"$loom" runs show ep2 --db "$work/runs.sqlite" > "$work/ep2.show"
grep -q "expert_tokens" "$work/ep2.show" || { echo "no expert_tokens in the run store"; exit 1; }
echo "run store: per-expert token counts recorded"
# The EP 2 x SP 2 run's final model (experts gathered from their shards) in
# HF's per-expert layout: export it and generate from it.
"$loom" export ep2_sp2 --db "$work/runs.sqlite" --to-hf "$work/export"
grep -q qwen3_moe "$work/export/config.json"
"$loom" generate --model "$work/export" --prompt "Call me Ishmael" --max-new-tokens 3
# Continue training from that HF checkpoint: one process loads it whole; EP 2
# x FSDP 4 builds the model on the meta device and each rank reads only its
# slices of the safetensors (sharded loading). Same losses.
"$loom" train "${common[@]}" --model.path "$work/export" --run.name resumed_single --data.micro_batch_size 4
"$loom" launch --nproc 4 -- "$loom" train "${common[@]}" --model.path "$work/export" --run.name resumed_ep2 \
  --parallel.ep 2 --data.micro_batch_size 1
read_losses resumed_single resumed_ep2
expect_same_losses resumed_single resumed_ep2 5 1e-5
# The run store says how it was built; the ranks together read the safetensors
# once (EP 2 x expert-FSDP 2 and FSDP 4 cover every tensor exactly once).
ckpt_bytes=$(stat -c %s "$work/export/model.safetensors")
build=$("$loom" runs show resumed_ep2 --db "$work/runs.sqlite" | grep "build")
echo "$build"
echo "$build" | grep -q "built on the meta device; each of 4 ranks filled only its shards from $work/export" \
  || { echo "no sharded build event"; exit 1; }
read_bytes=$(echo "$build" | sed 's/.*(\([0-9]*\) safetensors bytes.*/\1/')
# The file also holds its JSON header: the tensors are a little smaller.
[ "$read_bytes" -le "$ckpt_bytes" ] && [ "$read_bytes" -ge $((ckpt_bytes - 65536)) ] \
  || { echo "read $read_bytes bytes of a $ckpt_bytes-byte checkpoint"; exit 1; }
# model.* keys that contradict model.path's config.json are an error, not ignored.
if "$loom" train "${common[@]}" --model.path "$work/export" --model.hidden_size 64 --run.name conflict \
     > "$work/conflict.log" 2>&1; then
  echo "model.hidden_size 64 was silently ignored for a 32-wide checkpoint"; exit 1
fi
grep -q "model.hidden_size = 64 disagrees with $work/export/config.json, which says 32; fix: remove model.hidden_size" \
  "$work/conflict.log" || { cat "$work/conflict.log"; echo "no error naming the conflicting key"; exit 1; }
echo "conflicting model.hidden_size rejected with the fix"
# A config.json that does not match the tensors fails on every rank before
# training, naming the tensor and the fix.
cp -r "$work/export" "$work/bad"
sed -i 's/"num_experts": 8/"num_experts": 4/' "$work/bad/config.json"
if "$loom" launch --nproc 2 -- "$loom" train "${common[@]}" --model.path "$work/bad" --run.name bad \
     --parallel.ep 2 > "$work/bad.log" 2>&1; then
  echo "a checkpoint with 8 experts loaded into a 4-expert model"; exit 1
fi
grep -q "mlp.gate.weight' has shape \[8, 32\] but the model expects \[4, 32\]; fix: use the config.json" "$work/bad.log" \
  || { cat "$work/bad.log"; echo "no error naming the mismatched tensor and the fix"; exit 1; }
echo "mismatched checkpoint rejected with the fix"
if "$loom" launch --nproc 2 -- "$loom" train "${common[@]}" --model.family qwen3 --run.name dense_ep \
     --parallel.ep 2 > "$work/dense.log" 2>&1; then
  echo "a dense model with parallel.ep 2 trained"; exit 1
fi
grep -q "needs a mixture-of-experts model" "$work/dense.log" \
  || { cat "$work/dense.log"; echo "dense + ep: no error naming the fix"; exit 1; }
echo "dense + ep rejected with the fix"
