#!/usr/bin/env bash
# Benchmark: the cost of checkpointing to the training loop, side by side in
# one run. A Qwen3-shaped model with the real 151,936-token vocabulary
# (hidden 64, 2 layers: ~20 M parameters, a ~235 MB checkpoint with AdamW's
# moments) trains 20 steps of 4 x 64 tokens under `loom train`, three ways,
# interleaved over ROUNDS rounds (A B C A B C ...):
#   none   no checkpoints
#   async  a checkpoint every 10 steps, written on a background thread (default)
#   sync   a checkpoint every 10 steps, written on the training thread
# The loop's time is the sum of the steps' step_time_s after the first (the
# run store's; it includes the checkpoint work done on the training thread:
# staging, commits, synchronous writes). Prints the median and min/max of
# each, the ratios, and the write and read throughput from the run store's
# checkpoint and resumed events. Target: async / none <= 1.05; exit 1 when missed.
set -euo pipefail
loom=$1; src=$2; rounds=${3:-3}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$src/tests/cli/lib.sh"
build_novel_dataset 400000
common=(--model.hidden_size 64 --model.intermediate_size 128 --model.num_hidden_layers 2
        --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 16
        --data.train "$work/data" --data.seq_len 64 --data.micro_batch_size 4 --train.steps 20
        --train.warmup_steps 2 --train.log_every 1000 --run.db "$work/runs.sqlite" --run.dir "$work/runs")
for r in $(seq 1 "$rounds"); do
  "$loom" train "${common[@]}" --run.name "none-$r" > /dev/null
  "$loom" train "${common[@]}" --run.name "async-$r" --train.checkpoint_every 10 > /dev/null
  "$loom" train "${common[@]}" --run.name "sync-$r" --train.checkpoint_every 10 --train.checkpoint_async false > /dev/null
done
"$loom" train "${common[@]}" --run.name "async-1" --train.steps 21 --resume > /dev/null  # a load, timed
du -sh "$work/runs/async-1/checkpoints/step-00000020"
python3 - "$work/runs.sqlite" "$rounds" <<'PY'
import re, sqlite3, statistics, sys
db = sqlite3.connect(sys.argv[1]); rounds = int(sys.argv[2])
def loop_time(name):
    rows = db.execute("SELECT s.step_time_s FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.name = ? "
                      "AND s.step BETWEEN 1 AND 19 ORDER BY s.step", (name,)).fetchall()
    assert len(rows) == 19, (name, len(rows))
    return sum(t for (t,) in rows)
times = {kind: [loop_time(f"{kind}-{r}") for r in range(1, rounds + 1)] for kind in ("none", "async", "sync")}
med = {k: statistics.median(v) for k, v in times.items()}
for k, v in times.items():
    print(f"{k:5s}  steps 1-19: median {med[k]:.3f} s (min {min(v):.3f}, max {max(v):.3f}) over {rounds} interleaved runs")
def rates(kind, pattern):
    out = []
    for (msg,) in db.execute("SELECT e.message FROM events e JOIN runs r ON r.id = e.run_id WHERE r.name LIKE ? "
                             "AND e.kind = ?", (kind + "-%", pattern)):
        m = re.search(r"this rank (?:wrote|read) ([0-9.]+) MB in ([0-9.]+) s \(([0-9.]+) MB/s\)", msg)
        if m: out.append((float(m.group(1)), float(m.group(3))))
    return out
w_async, w_sync, reads = rates("async", "checkpoint"), rates("sync", "checkpoint"), rates("async", "resumed")
print(f"write: {w_async[0][0]:.1f} MB per checkpoint; median {statistics.median(r for _, r in w_async):.0f} MB/s on the "
      f"writer thread (async), {statistics.median(r for _, r in w_sync):.0f} MB/s (sync); "
      f"read on resume: {reads[0][1]:.0f} MB/s")
ratio_async, ratio_sync = med["async"] / med["none"], med["sync"] / med["none"]
print(f"ratio async/none {ratio_async:.3f}x (target <= 1.05x); sync/none {ratio_sync:.3f}x")
sys.exit(0 if ratio_async <= 1.05 else 1)
PY
