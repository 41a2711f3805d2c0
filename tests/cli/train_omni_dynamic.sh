#!/usr/bin/env bash
# Dynamic batching and bad samples through the CLI, on real emoji + speech:
#   - one process with 6 micro-batches per step equals 3 data ranks (an odd
#     world) with 2 each: every rank takes the same number of token-budget
#     micro-batches, the loss normalised by the global label count;
#   - the run store holds the loss per modality mix (their label-weighted mean
#     is the loss), the samples read, and the share of the step spent waiting
#     for data;
#   - 5% of the media files damaged after the build: the run completes, the
#     bad samples counted by reason in the run store and on the progress line;
#   - half of them damaged: the run fails, naming the limit, a file and why;
#   - a checkpoint taken in one process resumes on 3 ranks (the omni model,
#     the dynamic loader's global position).
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
python3 "$src/scripts/make_chat_jsonl.py" "$src/.cache/assets" "$work/src.jsonl" 40 24
# Private copies of the media (the damage below stays here).
python3 - "$work" <<'PY'
import json, os, shutil, sys
work = sys.argv[1]
out = open(os.path.join(work, "chat.jsonl"), "w")
n = 0
def copy(path):
    global n
    n += 1
    to = os.path.join(work, "media", "%03d%s" % (n, os.path.splitext(path)[1]))
    os.makedirs(os.path.dirname(to), exist_ok=True)
    shutil.copy(path, to)
    return to
for line in open(os.path.join(work, "src.jsonl")):
    j = json.loads(line)
    for key in ("image", "audio"):
        if key in j:
            j[key] = copy(j[key])
    for m in j.get("messages", []):
        if isinstance(m["content"], list):
            for part in m["content"]:
                for key in ("image", "audio"):
                    if key in part:
                        part[key] = copy(part[key])
    out.write(json.dumps(j) + "\n")
PY
markers=(--audio-start "<|box_start|>" --audio-pad "<|object_ref_start|>" --audio-end "<|box_end|>")
"$loom" data build --format chat --tokenizer "$tok" --input "$work/chat.jsonl" --output "$work/chat" "${markers[@]}" >/dev/null
tiny_omni_json 80 > "$work/omni.json"
common=(--model.config "$work/omni.json" --data.train "$work/chat" --data.max_tokens_per_micro_batch 200
        --data.encoder_token_cost 0.25 --data.pack_window 16 --train.steps 4 --train.warmup_steps 1 --train.lr 3e-3
        --train.log_every 1 --run.db "$work/runs.sqlite" --run.dir "$work/runs")
"$loom" train "${common[@]}" --run.name single --train.grad_accum 6 > "$work/single.log"
"$loom" launch --nproc 3 -- "$loom" train "${common[@]}" --run.name three --train.grad_accum 2 > "$work/three.log"
read_losses single three
expect_same_losses single three 4 1e-5
python3 - "$work/runs.sqlite" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for name in ("single", "three"):
    rows = db.execute("SELECT s.loss, s.extra FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.name = ? ORDER BY s.step", (name,)).fetchall()
    assert len(rows) == 4, (name, len(rows))
    for loss, extra in rows:
        e = json.loads(extra)
        by, labels = e["loss_by_modality"], e["labels_by_modality"]
        assert {"image", "audio"} <= set(by), (name, by)
        mean = sum(by[g] * labels[g] for g in by) / sum(labels.values())
        assert abs(mean - e["loss_terms"]["text"]) < 1e-4 * abs(mean), (name, mean, e["loss_terms"])
        assert 0 <= e["data_wait_share"] < 1, e
        assert e["samples_read"] > 0 and e["bad_samples"] == {}, e
    print(name, "loss by modality at the last step:", {g: round(v, 3) for g, v in by.items()}, "read", e["samples_read"])
PY
# A checkpoint of the omni model after 2 steps (one process) resumes on 3 ranks: steps 2-3
# equal the straight run's (warmup over the whole run: a step's lr does not depend on train.steps).
flat=(--train.warmup_steps 20)
"$loom" train "${common[@]}" "${flat[@]}" --run.name straight --train.grad_accum 6 > /dev/null
"$loom" train "${common[@]}" "${flat[@]}" --run.name half --train.grad_accum 6 --train.steps 2 --train.checkpoint_every 2 > /dev/null
"$loom" launch --nproc 3 -- "$loom" train "${common[@]}" "${flat[@]}" --run.name resumed3 --train.grad_accum 2 \
  --resume "$work/runs/half/checkpoints" > "$work/resumed3.log"
read_losses straight resumed3
tail -n 2 "$work/straight.loss" > "$work/straight_tail.loss"
expect_same_losses straight_tail resumed3 2 1e-5
# 5% damaged: 3 PNGs cut short, a WAV cut inside its header, one image removed.
mapfile -t pngs < <(ls "$work"/media/*.png)
mapfile -t wavs < <(ls "$work"/media/*.wav)
for f in "${pngs[3]}" "${pngs[11]}" "${pngs[19]}"; do truncate -s 100 "$f"; done
printf 'RIFF' > "${wavs[2]}"
rm "${pngs[27]}"
"$loom" train "${common[@]}" --run.name damaged --train.steps 12 --train.grad_accum 2 > "$work/damaged.log"
grep -q "skipped [0-9]* (.*corrupt image" "$work/damaged.log" || { cat "$work/damaged.log"; exit 1; }
python3 - "$work/runs.sqlite" <<'PY'
import json, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
status, = db.execute("SELECT status FROM runs WHERE name = 'damaged'").fetchone()
assert status == "completed", status
extra = json.loads(db.execute("SELECT s.extra FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.name = 'damaged' ORDER BY s.step DESC LIMIT 1").fetchone()[0])
bad, read = extra["bad_samples"], extra["samples_read"]
print("damaged: read", read, "bad", bad)
assert set(bad) <= {"corrupt image", "corrupt audio", "missing file"}, bad
assert bad.get("corrupt image", 0) > 0, bad
# Each damaged sample is met once per epoch read: 5 of the 70 conversations (some hold two files).
epochs = read / 70
assert sum(bad.values()) <= 5 * (int(epochs) + 1), (bad, read)
PY
# Half damaged: a flood fails the run with the limit, a file and the reason.
for ((i = 0; i < ${#pngs[@]}; i += 2)); do [ -f "${pngs[i]}" ] && truncate -s 100 "${pngs[i]}"; done
if "$loom" train "${common[@]}" --run.name flood --train.steps 12 > "$work/flood.log" 2>&1; then
  echo "a run over half-damaged data did not fail" >&2; exit 1
fi
grep -q "samples read were bad (corrupt image [0-9]*.*), more than data.max_bad_fraction 0.1.* allows; the last: $work/media/[0-9]*.png: " "$work/flood.log" \
  || { cat "$work/flood.log"; exit 1; }
grep -q "fix: repair or remove those files" "$work/flood.log"
echo "omni dynamic batching and bad samples: ok"
