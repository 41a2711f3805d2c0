#!/usr/bin/env bash
# Loom FSDP on 4 ranks (`loom launch`) vs PyTorch's Python FSDP2 (fully_shard
# per decoder layer + root, torchrun, gloo) on 4 ranks: the same model and
# global batch, interleaved runs at two shapes, medians with min / max and
# each shape's target (train_step_bench.py fsdp).
set -euo pipefail
loom=$1; python=$2; dir_of_scripts=$3; loom_bench=$4; runs=${5:-5}; steps=${6:-3}
"$python" "$dir_of_scripts/train_step_bench.py" fsdp "$loom" "$loom_bench" "$dir_of_scripts/fsdp_speed_bench.py" \
  "$runs" "$steps" 2> >(grep -v "Warning\|warn" >&2)
