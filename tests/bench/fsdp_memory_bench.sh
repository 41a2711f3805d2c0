#!/usr/bin/env bash
# FSDP memory table: per-rank bytes of parameters + gradients + AdamW state
# (measured by a tracking allocator after two steps) for 1, 2 and 4 ranks,
# against the ideal one-process / N; then recompute's activation saving.
set -euo pipefail
loom=$1; bench=$2
one=$("$loom" launch --nproc 1 -- "$bench" | awk '/state_bytes/ {print $(NF-2)}')
printf "%-6s %14s %14s %14s %10s\n" ranks state_bytes ideal peak_bytes ratio
for n in 1 2 4; do
  line=$("$loom" launch --nproc $n -- "$bench" | grep "rank 0\]" | grep state_bytes)
  state=$(echo "$line" | awk '{print $(NF-2)}'); peak=$(echo "$line" | awk '{print $NF}')
  awk -v n=$n -v s=$state -v p=$peak -v one=$one 'BEGIN { printf "%-6d %14d %14d %14d %10.3f\n", n, s, one / n, p, s / (one / n) }'
done
echo "(ratio = state_bytes / (one process / N); target <= 1.15)"
echo "construction peak per rank (model built and sharded; one process = the model):"
printf "%-6s %14s %14s %14s %10s\n" ranks whole sharded ideal sharded/whole
for n in 2 4; do
  w=$("$loom" launch --nproc $n -- "$bench" --construct whole | grep "rank 0\]" | grep construct_ | sed 's/.*construct_whole_peak_bytes \([0-9]*\).*/\1/')
  s=$("$loom" launch --nproc $n -- "$bench" --construct sharded | grep "rank 0\]" | grep construct_ | sed 's/.*construct_sharded_peak_bytes \([0-9]*\).*/\1/')
  awk -v n=$n -v w=$w -v s=$s -v one=$one 'BEGIN { printf "%-6d %14d %14d %14d %10.3f\n", n, w, s, one / 4 / n, s / w }'
done
echo "(ideal = parameters / N; sharded adds one chunk of 2^20 random draws, 4 MiB)"
"$loom" launch --nproc 4 -- "$bench" | grep "export_all_peak_bytes" | sed 's/^\[rank [0-9]*\] //' | awk '
  { all[$2] = $4; only[$2] = $6 }
  END { printf "export (gather the full state), extra peak per rank, 4 ranks: every rank keeps it %d / %d bytes (rank 0 / rank 1); rank 0 only %d / %d (rank 1: %.3fx)\n",
        all[0], all[1], only[0], only[1], only[1] / all[1] }'
for policy in none selective full; do "$bench" --recompute $policy; done | awk '
  { peak[$2] = $4 }
  END { printf "activation peak, 1 x 2048 tokens: none %d, selective %d (%.2fx), full %d (%.2fx)\n",
        peak["none"], peak["selective"], peak["selective"] / peak["none"], peak["full"], peak["full"] / peak["none"] }'
