#!/usr/bin/env bash
# Benchmark: Loom's training step vs a plain PyTorch (Python) loop on the same
# qwen3 model (hidden 256, 4 layers, vocab 8192), the same 4 x 256 batch, the
# same machine, one after the other in one run. Prints both and the ratio.
set -euo pipefail
python=$1; script=$2; loom_bench=$3; steps=${4:-10}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$python" "$script" make "$dir" 2>/dev/null
py=$("$python" "$script" run "$dir" "$steps" 2>/dev/null | awk '/pytorch_ms_per_step/ {print $2}')
lm=$("$loom_bench" "$dir" "$steps" | awk '/loom_ms_per_step/ {print $2}')
echo "train step (4 x 256 tokens, fp32, CPU): pytorch ${py} ms, loom ${lm} ms"
awk -v a="$lm" -v b="$py" 'BEGIN { printf "ratio loom/pytorch step time: %.3f (below 1 = Loom faster)\n", a / b }'
