#!/usr/bin/env bash
# The GPU check's benchmark pair, dry-run on the CPU at a tiny shape:
# gpu_step_bench (Loom's TrainStep with fused AdamW) and
# qwen3_eager_step.py (PyTorch eager, the same model and batch) both run
# and print their step time, tokens/s and FLOP rate with the same formula
# (scripts/gpu_check.sh runs them at ~1B parameters, 8K tokens, bf16).
set -euo pipefail
bench=$1; src=$2
shape=(--device cpu --hidden 64 --layers 2 --heads 4 --kv-heads 2 --head-dim 16 --intermediate 128 --vocab 512
       --seq 128 --rows 2 --steps 3 --warmup 1 --dtype bf16)
"$bench" "${shape[@]}" | tee /dev/stderr | grep -Eq "^loom_step_ms [0-9.]+ min [0-9.]+ max [0-9.]+ tokens_per_s [0-9.]+ tflops"
"$src/.venv/bin/python" "$src/tests/bench/qwen3_eager_step.py" "${shape[@]}" | tee /dev/stderr \
  | grep -Eq "^eager_step_ms [0-9.]+ min [0-9.]+ max [0-9.]+ tokens_per_s [0-9.]+ tflops"
# Without a GPU the CUDA run is refused, not faked.
set +e
"$bench" --device cuda > /dev/null 2>&1; code=$?
set -e
[ "$code" -eq 77 ] || { echo "gpu_step_bench --device cuda exited $code without a GPU (want 77)" >&2; exit 1; }
echo "dry run ok"
