#!/usr/bin/env bash
# Benchmark: Loom FSDP step time on 4 ranks (`loom launch`, gloo, CPU) with
# prefetch off and on, bf16 gathered parameters and CPU offload, one run,
# side by side (best of ROUNDS interleaved rounds of STEPS steps each).
set -euo pipefail
loom=$1; bench=$2; steps=${3:-5}; rounds=${4:-2}
export OMP_NUM_THREADS=1
out=$("$loom" launch --nproc 4 -- "$bench" "$steps" "$rounds" | sed -n 's/^.*\(fsdp_bench .*\)$/\1/p')
echo "FSDP 4 ranks, qwen3 hidden 256 / 4 layers / vocab 8192, 4 x 256 tokens per step, CPU (gloo):"
echo "$out" | awk '{ printf "  %-30s %9.2f ms/step  %8.2f MB gathered/step  gathers/step: %s ahead, %s on demand\n", $2, $4, $6, $8, $10 }'
echo "$out" | awk '$2 == "fp32_prefetch_off" {off = $4} $2 == "fp32_prefetch_on" {on = $4}
  END { printf "prefetch on/off step time: %.3f (below 1 = prefetch faster)\n", on / off }'
