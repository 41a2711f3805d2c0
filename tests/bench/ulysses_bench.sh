#!/usr/bin/env bash
# Ulysses SP benchmark (one run, this machine):
#  1. step time (fwd+bwd) for sync vs async Ulysses vs a stand-in with the
#     all-to-alls removed, and the fraction of all-to-all time async hides:
#     hidden = (sync - async) / (sync - no_comm)
#  2. activation peak per rank at a fixed sequence length for sp = 1, 2, 4,
#     as a ratio to sp = 1 (target: sp 4 <= 0.35)
#  3. the longest sequence whose activation peak fits a fixed per-rank budget
#     for sp = 1, 2, 4 (should grow about linearly with sp)
set -euo pipefail
loom=$1; bench=$2
len=8192; budget=$((128 * 1024 * 1024))
echo "== step time, 1 row x $len tokens (3 packed documents), qwen3 hidden 256, 8 heads / 2 KV heads, 2 layers"
printf "%-4s %10s %10s %10s %8s\n" sp sync_ms async_ms no_comm_ms hidden
for sp in 2 4; do
  "$loom" launch --nproc $sp -- "$bench" --speed $len 5 | grep "rank 0\]" | awk -v sp=$sp '{
    s = $10; a = $12; n = $14; h = (s > n) ? (s - a) / (s - n) : 0;
    printf "%-4d %10.1f %10.1f %10.1f %7.0f%%\n", sp, s, a, n, 100 * h }'
done
echo "(hidden = share of the all-to-all time (sync - no_comm) that async removes; ranks share $(nproc) cores here)"
echo "== activation peak per rank, $len tokens"
printf "%-4s %16s %10s\n" sp bytes vs_sp1
one=""
for sp in 1 2 4; do
  bytes=$("$loom" launch --nproc $sp -- "$bench" --memory $len | grep "rank 0\]" | awk '{print $NF}')
  one=${one:-$bytes}
  awk -v sp=$sp -v b=$bytes -v one=$one 'BEGIN { printf "%-4d %16d %10.3f\n", sp, b, b / one }'
done
echo "(target: sp 4 <= 0.35 x sp 1)"
echo "== longest sequence within $((budget / 1024 / 1024)) MiB of activations per rank"
printf "%-4s %12s %10s\n" sp longest_len vs_sp1
first=""
for sp in 1 2 4; do
  n=$("$loom" launch --nproc $sp -- "$bench" --fit $budget | grep "rank 0\]" | awk '{print $NF}')
  first=${first:-$n}
  awk -v sp=$sp -v n=$n -v f=$first 'BEGIN { printf "%-4d %12d %10.2f\n", sp, n, n / f }'
done
