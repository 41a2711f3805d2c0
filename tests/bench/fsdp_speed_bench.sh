#!/usr/bin/env bash
# Benchmark: Loom FSDP on 4 ranks (`loom launch`) vs PyTorch's Python FSDP2
# (fully_shard per decoder layer + root, torchrun, gloo) on 4 ranks: the same
# qwen3 model, the same 4 x 256 global batch (1 row per rank), one after the
# other in one run. Prints both step times and the ratio.
set -euo pipefail
loom=$1; python=$2; dir_of_scripts=$3; loom_bench=$4; steps=${5:-5}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$python" "$dir_of_scripts/train_step_bench.py" make "$dir" 2>/dev/null
export OMP_NUM_THREADS=1
port=$("$python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
py=$("$python" -m torch.distributed.run --nproc_per_node 4 --master_addr 127.0.0.1 --master_port "$port" "$dir_of_scripts/fsdp_speed_bench.py" "$dir" "$steps" 2>/dev/null |
     awk '/pytorch_fsdp_ms_per_step/ {print $2}')
lm=$("$loom" launch --nproc 4 -- "$loom_bench" "$dir" "$steps" | awk '/loom_fsdp_ms_per_step/ {print $NF}')
echo "FSDP 4 ranks, 4 x 256 tokens per step, fp32, CPU (gloo): pytorch fsdp2 ${py} ms, loom ${lm} ms"
awk -v a="$lm" -v b="$py" 'BEGIN { printf "ratio loom/pytorch-fsdp2 step time: %.3f (below 1 = Loom faster)\n", a / b }'
