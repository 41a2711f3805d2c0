#!/usr/bin/env bash
# MoE layer (8 experts, top-2, SwiGLU 256 -> 512) fwd+bwd time under expert
# parallelism on 4 ranks with real unbalanced routing: plain dispatch vs
# overlapped dispatch (2 and 4 chunks), one run, ratios.
set -euo pipefail
loom=$1; bench=$2
"$loom" launch --nproc 4 -- "$bench" 4096 5 | grep "rank 0\]" | awk '{
  printf "ep %s, %s tokens per rank; tokens per expert (all ranks):", $6, $8
  for (i = 16; i <= NF; i++) printf " %s", $i
  printf "\nplain %.1f ms, overlapped x2 %.1f ms (%.3fx), overlapped x4 %.1f ms (%.3fx)\n", $10, $12, $12 / $10, $14, $14 / $10
}'
echo "(ratio = overlapped / plain; < 1 means the overlap pays; ranks share $(nproc) cores here)"
