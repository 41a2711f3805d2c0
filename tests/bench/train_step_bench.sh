#!/usr/bin/env bash
# Loom's single-process train step vs PyTorch eager on the same model and
# batch, at four shapes (overhead-bound, the old 4 x 256 one, compute-bound,
# MoE): interleaved runs, medians with min / max, GFLOP/s next to the measured
# matmul rate, and each shape's target (see train_step_bench.py).
set -euo pipefail
python=$1; script=$2; loom_bench=$3; runs=${4:-5}; steps=${5:-3}
shift 5 || true
"$python" "$script" bench "$loom_bench" "$runs" "$steps" "$@" 2> >(grep -v "Warning\|warn" >&2)
