#!/usr/bin/env bash
# An omni model trained on real multimodal data through the CLI:
#   scripts/make_chat_jsonl.py     emoji PNGs + their names, spoken prompts + their
#                                  transcripts, conversations holding both (packaged data)
#   loom data build --format chat  chat template, assistant-only labels, placeholders
#                                  expanded to each image's and clip's token count
#   loom data inspect              the dataset's labels and media
#   loom train                     one process: images through the C++ Qwen2-VL processor,
#                                  clips through libsoxr + Whisper log-mel, a loom_omni
#                                  model (Qwen2-VL tower, Qwen2-Audio encoder, Qwen3)
#   loom launch --nproc 4 -- loom train   vision FSDP 4, LLM HSDP 2 x 2: equal to one process
# and a dataset that does not fit the model fails before training, naming why.
set -euo pipefail
loom=$1; src=$2
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/lib.sh"
python3 "$src/scripts/make_chat_jsonl.py" "$src/.cache/assets" "$work/chat.jsonl" 40 24
markers=(--audio-start "<|box_start|>" --audio-pad "<|object_ref_start|>" --audio-end "<|box_end|>")
"$loom" data build --format chat --tokenizer "$tok" --input "$work/chat.jsonl" --output "$work/chat" "${markers[@]}" \
  | tee "$work/build.log"
grep -q "loom data build: conversations 70, .* images 46, audio clips 30, skipped 0" "$work/build.log"
"$loom" data inspect "$work/chat" | tee "$work/inspect.log"
grep -q "chat: .* label tokens (assistant replies), 46 images, 30 audio clips" "$work/inspect.log"
tiny_omni_json 80 > "$work/omni.json"
tiny_omni_json 128 > "$work/omni128.json"
common=(--data.train "$work/chat" --data.seq_len 160 --train.steps 5 --train.warmup_steps 1 --train.lr 3e-3
        --train.log_every 100 --run.db "$work/runs.sqlite" --run.dir "$work/runs")
"$loom" train --model.config "$work/omni.json" "${common[@]}" --run.name single --data.micro_batch_size 4 | tee "$work/single.log"
grep -q "3468 training tokens (70 conversations)" "$work/single.log"
"$loom" launch --nproc 4 -- "$loom" train --model.config "$work/omni.json" "${common[@]}" --run.name hsdp \
  --data.micro_batch_size 1 --parallel.dp_replicate 2 --parallel.dp_shard 2 --components.vision.parallel.dp_replicate 1
read_losses single hsdp
expect_same_losses single hsdp 5 1e-5
awk 'NR == 1 { first = $1 } END { if (!($1 < first)) { print "the loss did not fall: " first " -> " $1; exit 1 } }' "$work/single.loss"
# A dataset built for another audio front end fails before training.
if "$loom" train --model.config "$work/omni128.json" "${common[@]}" --run.name bad > "$work/bad.log" 2>&1; then
  echo "a dataset with 80 mel bins trained a model with 128" >&2; exit 1
fi
grep -q "mel bins: the dataset has 80, the model 128; fix: rebuild with --n-mels 128" "$work/bad.log" || { cat "$work/bad.log"; exit 1; }
# The export holds the tokenizer and the template; `loom generate` answers an image and a clip.
for f in config.json model.safetensors tokenizer.json loom_chat.json; do
  [ -s "$work/runs/single/final/$f" ] || { echo "the export lacks $f" >&2; exit 1; }
done
png=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["image"])' "$work/chat.jsonl")
"$loom" generate --model "$work/runs/single/final" --image "$png" --prompt "What is this?" --max-new-tokens 4 \
  | tee "$work/gen.log"
grep -q "^prompt: [0-9]* tokens, image $png, text \"What is this?\"" "$work/gen.log"
grep -q "^reply: " "$work/gen.log"
mkdir -p "$work/text_model" && echo '{"model_type": "qwen3"}' > "$work/text_model/config.json"
if "$loom" generate --model "$work/text_model" --image "$png" > "$work/gen_bad.log" 2>&1; then
  echo "a text model took an image" >&2; exit 1
fi
grep -q "is a text model (model_type 'qwen3'): it takes no --image or --audio" "$work/gen_bad.log" || { cat "$work/gen_bad.log"; exit 1; }
