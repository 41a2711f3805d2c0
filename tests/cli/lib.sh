# Shared helpers of the CLI end-to-end training tests (sourced; needs $loom,
# $src and $work set, and `set -euo pipefail` in the caller).
tok=$src/.cache/assets/qwen3/tokenizer.json
novel=/usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt

# The first BYTES bytes of the novel, tokenized with the real Qwen3 tokenizer
# into $work/data.
build_novel_dataset() {  # bytes
  head -c "$1" "$novel" > "$work/novel.txt"
  "$loom" data build --tokenizer "$tok" --input "$work/novel.txt" --format text --output "$work/data" >/dev/null
}

# Each run's per-step losses from the run store into $work/RUN.loss.
read_losses() {  # run...
  local run
  for run in "$@"; do
    "$loom" runs show "$run" --db "$work/runs.sqlite" --csv | awk -F, 'NR > 1 { print $2 }' > "$work/$run.loss"
  done
}

# Fails unless RUN has STEPS losses, each within TOL relative of REFERENCE's.
expect_same_losses() {  # reference run steps tol
  paste -d' ' "$work/$1.loss" "$work/$2.loss" | awk -v ref="$1" -v run="$2" -v steps="$3" -v tol="$4" '
    { d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > worst) worst = d; n++ }
    END { printf "%s vs %s: %d steps, worst relative loss difference %.2e (tolerance %g)\n", run, ref, n, worst, tol;
          exit !(n == steps && worst <= tol) }'
}
