#!/usr/bin/env bash
# Loom Studio end to end, under Xvfb, through its real window:
#   loom-studio --ui-test        the Dear ImGui Test Engine composes a small omni model,
#                                sees an invalid plan's message at its field, fixes it,
#                                launches a 2-rank run on real emoji captions, watches its
#                                metrics stream onto the charts (UI build time per frame
#                                measured), stops it, resumes it, stops it, exports CSV + PNG
#   loom runs show --csv         what the studio exported equals the store, byte for byte
#   loom-studio --screenshots    every panel renders headless to a PNG
set -euo pipefail
loom=$1; studio=$2; src=$3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$src/tests/cli/lib.sh"
python3 "$src/scripts/make_chat_jsonl.py" "$src/.cache/assets" "$work/chat.jsonl" 40 0
"$loom" data build --format chat --tokenizer "$tok" --input "$work/chat.jsonl" --output "$work/chat" >/dev/null
xvfb=(xvfb-run -a -s "-screen 0 1280x800x24")
cd "$work"
"${xvfb[@]}" "$studio" --ui-test --data "$work/chat" --db "$work/runs.sqlite" --runs-dir "$work/runs" \
  --export-dir "$work/exports" 2>&1 | grep -v "^\[[0-9]*\] \(\[.*\] \)\?\(Item\|Mouse\|Key\|Yield\|Nav\|Focus\|Window\|Sleep\)" \
  | tee "$work/ui.log"
grep -q "UI tests: 1 of 1 passed" "$work/ui.log"
"$loom" runs show ui_test --db "$work/runs.sqlite" --csv > "$work/store.csv"
rows=$(($(wc -l < "$work/store.csv") - 1))
if ! cmp -s "$work/store.csv" "$work/exports/ui_test.csv"; then
  echo "the studio's export differs from the store:" >&2
  diff "$work/store.csv" "$work/exports/ui_test.csv" | head -20 >&2
  exit 1
fi
echo "the studio's CSV of run ui_test equals \`loom runs show ui_test --csv\`: $rows rows, byte for byte"
[ "$rows" -ge 15 ] || { echo "only $rows rows: the run did not stream" >&2; exit 1; }
# Headless screenshots of a finished run: one PNG per panel.
run_id=$("$loom" runs list --db "$work/runs.sqlite" | awk '$2 == "ui_test" { print $1 }')
"${xvfb[@]}" "$studio" --config "$work/runs/ui_test/studio/config.json" --db "$work/runs.sqlite" --compare "$run_id" \
  --screenshots "$work/shots" --frames 20 > "$work/shots.log"
for panel in composer block strategy runs charts studio; do
  [ "$(stat -c %s "$work/shots/$panel.png")" -gt 5000 ] || { echo "no screenshot of the $panel panel" >&2; exit 1; }
done
echo "screenshots: $(ls "$work/shots" | tr '\n' ' ')"
