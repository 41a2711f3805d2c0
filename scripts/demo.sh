#!/usr/bin/env bash
# The main job (`make demo`): an omni model trained from scratch on real,
# packaged data, on CPU.
#  1. a chat dataset from emoji images with their names as captions (npm
#     emoji-datasource-google) and spoken prompts with their transcripts
#     (Debian asterisk-core-sounds-en), plus conversations holding both;
#     held-out images and clips set aside;
#  2. train a small omni model (Qwen2-VL vision tower, Qwen2-Audio encoder,
#     Qwen3-shaped LLM; samples/configs/demo_omni.{json,yaml}) with dynamic
#     batching, the live progress line, every step in the SQLite run store;
#  3. print the loss per modality falling, from the run store;
#  4. caption the held-out images and transcribe the held-out clips.
# The text-only demo is scripts/demo_text.sh (`make demo-text`).
set -euo pipefail
cd "$(dirname "$0")/.."
LOOM=${LOOM:-build/loom}
OUT=${DEMO_DIR:-build/demo}
TOKENIZER=.cache/assets/qwen3/tokenizer.json
STEPS=${DEMO_STEPS:-600}
mkdir -p "$OUT"
rm -f "$OUT/runs.sqlite"

echo "== 1. a chat dataset of emoji captions and spoken prompts"
python3 scripts/make_chat_jsonl.py .cache/assets "$OUT/chat.jsonl" 800 400 "$OUT/held_out.jsonl" 3
$LOOM data build --format chat --tokenizer "$TOKENIZER" --input "$OUT/chat.jsonl" --output "$OUT/chat" \
  --eval-fraction 0.05 --audio-start "<|box_start|>" --audio-pad "<|object_ref_start|>" --audio-end "<|box_end|>"

echo "== 2. train (run store: $OUT/runs.sqlite)"
$LOOM train samples/configs/demo_omni.yaml --model.config samples/configs/demo_omni.json \
  --data.train "$OUT/chat-train" --data.eval "$OUT/chat-eval" --train.steps "$STEPS" \
  --run.dir "$OUT/runs" --run.db "$OUT/runs.sqlite" --run.name demo_omni

echo "== 3. the loss per modality, from the run store"
python3 - "$OUT/runs.sqlite" "$STEPS" <<'PY'
import json, sqlite3, sys
db, steps = sqlite3.connect(sys.argv[1]), int(sys.argv[2])
rows = db.execute("SELECT s.step, s.loss, s.extra FROM steps s JOIN runs r ON r.id = s.run_id "
                  "WHERE r.name = 'demo_omni' ORDER BY s.step").fetchall()
extras = [json.loads(e) for _, _, e in rows]
groups = [g for g in ["text", "image", "audio", "image+audio"] if any(g in x.get("labels_by_modality", {}) for x in extras)]
print("  step   loss  " + "  ".join(f"{g:>11}" for g in groups) + "   eval   (per modality: mean over 20 steps)")
# Each modality's loss over a window of 20 steps (a micro-batch holds few of some kinds).
for at in sorted({0, steps // 4, steps // 2, 3 * steps // 4, steps - 1}):
    lo = min(max(0, at - 10), max(0, len(rows) - 20))
    window = [r for r in rows if lo <= r[0] < lo + 20] or rows[-1:]
    cells = []
    for g in groups:
        n = sum(json.loads(e).get("labels_by_modality", {}).get(g, 0) for _, _, e in window)
        s = sum(json.loads(e).get("loss_by_modality", {}).get(g, 0) * json.loads(e).get("labels_by_modality", {}).get(g, 0)
                for _, _, e in window)
        cells.append(f"{s / n:11.3f}" if n else f"{'-':>11}")
    step, loss, extra = rows[at] if at < len(rows) else rows[-1]
    ev = json.loads(extra).get("eval_loss")
    print(f"  {step:4d}  {loss:6.3f}  " + "  ".join(cells) + (f"  {ev:6.3f}" if ev is not None else ""))
PY

echo "== 4. held-out images and clips: what the model says"
python3 -c '
import json, sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    print(("image" if "image" in j else "audio") + "\t" + j.get("image", j.get("audio")) + "\t" + j.get("caption", j.get("transcript")))
' "$OUT/held_out.jsonl" | while IFS=$'\t' read -r kind path truth; do
  reply=$($LOOM generate --model "$OUT/runs/demo_omni/final" --"$kind" "$path" --max-new-tokens 12 | sed -n 's/^reply: //p')
  printf '  %-5s %-40s truth: %-28s model: %s\n' "$kind" "$(basename "$path")" "$truth" "$reply"
done
