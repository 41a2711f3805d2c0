#!/usr/bin/env bash
# Fault tolerance through the CLI:
#  - SIGTERM mid-run ends `loom train` within a step (exit 143), the store
#    says cancelled with a SIGTERM event and a final checkpoint, and a resume
#    continues the same run to losses equal to a straight run's, bit for bit;
#  - kill -9: the run reads `running` while its heartbeat is fresh, `lost`
#    once it is older than run.lost_after_s, never `running` afterwards;
#  - a rank killed with kill -9 under `loom launch --max-restarts 1`: the job
#    restarts from the last committed checkpoint, completes, and every loss
#    equals an uninterrupted run's under the same layout, bit for bit;
#  - `loom export` of the final checkpoint writes the run's own final model.
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 200000
db=$work/runs.sqlite
common=(--model.hidden_size 32 --model.intermediate_size 48 --model.num_hidden_layers 2
        --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 8
        --data.train "$work/data" --data.seq_len 64 --data.micro_batch_size 2 --train.steps 40
        --train.warmup_steps 50 --train.lr 3e-3 --train.log_every 1000 --data.tokenizer "$tok"
        --run.db "$db" --run.dir "$work/runs")
steps_of() { "$loom" runs show "$1" --db "$db" --csv 2>/dev/null | tail -n +2 | wc -l; }
status_of() { "$loom" runs show "$1" --db "$db" | head -1 | sed 's/.*(\(.*\))$/\1/'; }
wait_for() {  # description, then a command that succeeds once it holds
  local what=$1; shift
  for _ in $(seq 1 600); do "$@" && return 0; sleep 0.2; done
  echo "timed out waiting for $what" >&2; return 1
}
# (grep -q on a pipe would end the writer early: SIGPIPE fails the pipeline under pipefail)
show_has() { "$loom" runs show "$1" --db "$db" > "$work/show.txt"; grep -q "$2" "$work/show.txt"; }
list_has() { "$loom" runs list --db "$db" > "$work/list.txt"; grep "$1" "$work/list.txt" | grep -q "$2"; }
has_steps() { [ -f "$db" ] && [ "$(steps_of "$1")" -ge "$2" ]; }

# --- SIGTERM: a step boundary, a final checkpoint, a resume of the same run --
"$loom" train "${common[@]}" --run.name straight > /dev/null
"$loom" train "${common[@]}" --run.name term --train.checkpoint_every 100 > "$work/term.log" 2>&1 &
pid=$!
wait_for "5 steps of term" has_steps term 5
seen=$(steps_of term)
kill -TERM $pid
rc=0; wait $pid || rc=$?
[ "$rc" = 143 ] || { cat "$work/term.log"; echo "SIGTERM: exit $rc, want 143" >&2; exit 1; }
done_steps=$(steps_of term)
echo "SIGTERM after $seen logged steps: the run ended after $done_steps"
[ $((done_steps - seen)) -le 2 ] || { echo "the run went on for $((done_steps - seen)) steps after SIGTERM" >&2; exit 1; }
[ "$(status_of term)" = cancelled ]
show_has term "cancel .*SIGTERM: cancelled at the step boundary before step $done_steps; checkpoint "
[ "$(cat "$work/runs/term/checkpoints/latest")" = "$(printf 'step-%08d' "$done_steps")" ]
"$loom" train "${common[@]}" --run.name term --resume | tee "$work/resume.log"
grep -q "resumed from $work/runs/term/checkpoints/step-" "$work/resume.log"
"$loom" runs list --db "$db" > "$work/list.txt"
[ "$(grep -c " term " "$work/list.txt")" = 1 ] || { echo "the resume made a second run" >&2; exit 1; }
[ "$(status_of term)" = completed ]
show_has term "resumed .*saved by run"
read_losses straight term
expect_same_losses straight term 40 0

# --- kill -9: lost after the bound -------------------------------------------
"$loom" train "${common[@]}" --run.name killed --train.steps 100000 --run.lost_after_s 3 > /dev/null 2>&1 &
pid=$!
wait_for "3 steps of killed" has_steps killed 3
kill -9 $pid; wait $pid 2>/dev/null || true
[ "$(status_of killed)" = running ] || { echo "killed: $(status_of killed) at once, want running (fresh heartbeat)" >&2; exit 1; }
sleep 3.5
[ "$(status_of killed)" = lost ] || { echo "killed: $(status_of killed) after the bound, want lost" >&2; exit 1; }
list_has " killed " " lost "
echo "kill -9: running while the heartbeat was fresh, lost after 3 s"

# --- a rank lost under --max-restarts 1 ----------------------------------------
fsdp2=(--parallel.dp_shard 2 --data.micro_batch_size 1)
"$loom" launch --nproc 2 -- "$loom" train "${common[@]}" "${fsdp2[@]}" --run.name uninterrupted > /dev/null
"$loom" launch --nproc 2 --max-restarts 1 -- "$loom" train "${common[@]}" "${fsdp2[@]}" --run.name restarted \
  --train.checkpoint_every 4 > "$work/restart.log" 2>&1 &
lpid=$!
past_step_8() { [ -f "$work/runs/restarted/checkpoints/latest" ] && has_steps restarted 10; }
wait_for "a checkpoint and 10 steps of restarted" past_step_8
victim=$(pgrep -P $lpid | tail -n 1)
kill -9 "$victim"
echo "killed rank pid $victim at $(steps_of restarted) logged steps (latest $(cat "$work/runs/restarted/checkpoints/latest"))"
rc=0; wait $lpid || rc=$?
[ "$rc" = 0 ] || { cat "$work/restart.log"; echo "the restarted job exited $rc" >&2; exit 1; }
grep -q "restarting every rank (restart 1 of 1" "$work/restart.log" || { cat "$work/restart.log"; exit 1; }
[ "$(status_of restarted)" = completed ]
show_has restarted "restart 1 of 1 by loom launch: resuming from "
read_losses uninterrupted restarted
expect_same_losses uninterrupted restarted 40 0

# --- loom export from a checkpoint -------------------------------------------
"$loom" export "$work/runs/restarted/checkpoints" --to-hf "$work/exported" | tee "$work/export.log"
grep -q "exported checkpoint .*step-00000040 (step 40, qwen3" "$work/export.log"
# The same tensors, byte for byte (the file order of an FSDP gather may differ from the model's).
python3 - "$work/exported/model.safetensors" "$work/runs/restarted/final/model.safetensors" <<'PY'
import json, struct, sys
def tensors(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in h.items() if k != "__metadata__"}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
bad = [k for k in a if a[k] != b[k]]
assert not bad, f"tensors differ: {bad}"
print(f"export of the final checkpoint: {len(a)} tensors equal to the run's final model, byte for byte")
PY
cmp "$work/exported/config.json" "$work/runs/restarted/final/config.json"
[ -f "$work/exported/tokenizer.json" ]
echo "checkpoint faults: ok"
