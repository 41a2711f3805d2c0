#!/usr/bin/env bash
# `loom plan --json` and `loom train` use the same Plan value: the plan that
# `loom launch --nproc 4 -- loom train` records in the run store (its "plan"
# event) equals the one `loom plan CONFIG --world 4 --json` prints for the
# same config and overrides, field for field. Also: the printed plan parses
# as a Plan (round trip in tests/sdk/train/trainer_test.cc) and carries a
# per-rank memory estimate.
set -euo pipefail
loom=$1; src=$2; python=$3
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
build_novel_dataset 60000
args=(--model.hidden_size 32 --model.intermediate_size 48 --model.num_hidden_layers 3
      --model.num_attention_heads 4 --model.num_key_value_heads 2 --model.head_dim 8
      --data.train "$work/data" --data.seq_len 32 --data.micro_batch_size 1
      --train.steps 2 --train.warmup_steps 1 --train.log_every 100
      --run.db "$work/runs.sqlite" --run.dir "$work/runs" --run.name planned
      --parallel.dp_replicate 2 --parallel.sp 2 --parallel.recompute selective
      --parallel.fsdp_layers_per_unit 2 --parallel.reduce_dtype bf16)
"$loom" plan --world 4 --json "${args[@]}" > "$work/plan.json"
"$loom" launch --nproc 4 -- "$loom" train "${args[@]}"
"$python" - "$work/plan.json" "$work/runs.sqlite" <<'PY'
import json, sqlite3, sys
printed = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
rows = db.execute("SELECT message FROM events WHERE kind = 'plan'").fetchall()
assert len(rows) == 1, f"expected one plan event, found {len(rows)}"
trained = json.loads(rows[0][0])
assert printed["plan"] == trained, f"loom plan printed\n{printed['plan']}\nbut loom train ran\n{trained}"
c = trained["components"][0]
assert c["mesh"] == {"dp_replicate": 2, "dp_shard": 1, "sp": 2, "ep": 1}, c["mesh"]
assert c["precision"]["reduce"] == "bf16" and c["recompute"] == "selective" and c["fsdp"]["layers_per_unit"] == 2, c
mem = printed["memory_per_rank"]["model"]
assert mem["total_bytes"] > mem["param_bytes"] > 0, mem
print("loom plan --json and loom train used the same plan:", json.dumps(trained["components"][0]["mesh"]))
PY
