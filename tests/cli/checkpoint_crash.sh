#!/usr/bin/env bash
# Crash safety: a run that checkpoints every step (asynchronously, ~60 MB
# each, keep 2) is killed with kill -9 at 50 random moments (during start-up,
# resume, steps, rank-file writes, commits and pruning), each time restarted
# with train.resume auto. After every kill the latest committed checkpoint
# loads and verifies (`loom checkpoint inspect`: meta, every size and CRC-32),
# the committed step never goes back, and a final resume trains on from it.
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 100000
kills=${LOOM_CRASH_KILLS:-50}
root=$work/runs/crash/checkpoints
common=(--model.hidden_size 32 --model.intermediate_size 48 --model.num_hidden_layers 2
        --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 8
        --data.train "$work/data" --data.seq_len 32 --data.micro_batch_size 2 --train.lr 1e-3
        --train.log_every 1000 --run.db "$work/runs.sqlite" --run.dir "$work/runs" --run.name crash
        --train.checkpoint_every 1 --train.checkpoint_keep 2)
RANDOM=7
last=-1; mid_save=0; committed_kills=0
for i in $(seq 1 "$kills"); do
  "$loom" train "${common[@]}" --train.steps 100000 --train.resume auto > "$work/run.log" 2>&1 &
  pid=$!
  sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + 2.7 * r / 32767 }')"
  kill -9 $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  if compgen -G "$root/.tmp-step-*" > /dev/null; then mid_save=$((mid_save + 1)); fi
  [ -f "$root/latest" ] || continue  # killed before the first commit
  committed_kills=$((committed_kills + 1))
  "$loom" checkpoint inspect "$root" > "$work/inspect.log" 2>&1 \
    || { cat "$work/inspect.log"; echo "kill $i: the latest checkpoint does not verify" >&2; exit 1; }
  grep -q "sizes and CRC-32 verified" "$work/inspect.log"
  step=$(sed -n 's/^  step  *\([0-9]*\)$/\1/p' "$work/inspect.log" | head -n 1)
  [ -n "$step" ] || { cat "$work/inspect.log"; exit 1; }
  [ "$step" -ge "$last" ] || { echo "kill $i: the committed step went back from $last to $step" >&2; exit 1; }
  last=$step
done
echo "$kills kills: $committed_kills after a first commit, $mid_save with a save in flight; latest committed step $last"
[ "$committed_kills" -ge $((kills / 2)) ] || { echo "too few kills after a commit to prove anything" >&2; exit 1; }
[ "$mid_save" -ge 5 ] || { echo "only $mid_save kills landed during a save" >&2; exit 1; }
"$loom" train "${common[@]}" --train.steps $((last + 2)) --train.resume latest | tee "$work/final.log"
grep -q "resumed from $root/step-$(printf '%08d' "$last") at step $last" "$work/final.log"
echo "checkpoint crash safety: ok"
