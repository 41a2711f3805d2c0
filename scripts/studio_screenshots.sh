#!/usr/bin/env bash
# Regenerates docs/studio/*.png with loom-studio's headless mode under Xvfb:
# two short runs of a tiny omni model (Qwen2-VL tower + Qwen2-Audio encoder +
# Qwen3) on real emoji captions and spoken prompts, then the studio opened
# on a composed train.yaml with both runs ticked on the charts, and once more
# with an invalid plan (Ulysses SP 3 on 4 heads) for strategy_invalid.png.
# Usage: scripts/studio_screenshots.sh [BUILD_DIR]
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
loom=$build/loom; studio=$build/loom-studio
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$src/tests/cli/lib.sh"
cd "$work"
python3 "$src/scripts/make_chat_jsonl.py" "$src/.cache/assets" chat.jsonl 40 24 >/dev/null
"$loom" data build --format chat --tokenizer "$tok" --input chat.jsonl --output chat \
  --audio-start "<|box_start|>" --audio-pad "<|object_ref_start|>" --audio-end "<|box_end|>" >/dev/null
tiny_omni_json 80 > omni.json
for lr in 3e-3 1e-3; do
  "$loom" train --model.config omni.json --data.train chat --data.seq_len 160 --data.micro_batch_size 2 \
    --train.steps 40 --train.warmup_steps 2 --train.lr "$lr" --train.log_every 100 \
    --run.db runs.sqlite --run.dir runs --run.name "omni_lr$lr" >/dev/null
done
yaml() {  # sp name
  printf 'model:\n  config: %s/omni.json\ncomponents:\n  llm:\n    parallel:\n      sp: %s\n  vision:\n    parallel:\n      recompute: full\n' "$work" "$1"
  printf 'data:\n  train: %s/chat\n  seq_len: 160\n  micro_batch_size: 2\nrun:\n  name: %s\n  db: runs.sqlite\n' "$work" "$2"
}
yaml 2 omni_sp2 > valid.yaml
yaml 3 omni_sp3 > invalid.yaml
xvfb=(xvfb-run -a -s "-screen 0 1600x1000x24")
"${xvfb[@]}" "$studio" --open valid.yaml --compare 1 --compare 2 --world 4 --size 1600 --height 1000 --screenshots valid --frames 40 >/dev/null
"${xvfb[@]}" "$studio" --open invalid.yaml --world 4 --size 1600 --height 1000 --screenshots invalid --frames 40 >/dev/null
mkdir -p "$src/docs/studio"
cp valid/*.png "$src/docs/studio/"
cp invalid/strategy.png "$src/docs/studio/strategy_invalid.png"
ls "$src/docs/studio"
