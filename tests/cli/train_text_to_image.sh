#!/usr/bin/env bash
# Text to image, end to end on real emoji (npm emoji-datasource-google):
#   1. Loom trains its own image tokenizer (a Janus VQ: 16 x 16 pixels ->
#      8 x 8 codes of 256) on 300 emoji;
#      (held at 18.4 dB reconstruction PSNR after 600 steps);
#   2. `loom data build --image-tokenizer` encodes 24 named emoji as the
#      assistant's images ({"prompt": NAME, "target_image": PNG});
#   3. `loom train` trains a loom_omni model (a Qwen3-shaped LLM + image_out:
#      generation embeddings, aligner, head) on them: the image-token loss
#      is its own term in the run store (loss group image_out);
#   4. `loom generate --prompt NAME` for 20 of the names: the model opens
#      an image by itself, 64 codes are decoded to a PNG (and once sampled
#      with --draw --cfg-scale 3: guided codes, still one whole image);
#   5. each generated image's nearest training image (pixel MSE over the
#      24) must be the named one for at least 15 of 20 (chance: 1/24 each;
#      measured 18 / 20, which is also the image tokenizer's own ceiling:
#      its reconstructions of the 20 emoji are nearest their own for 18);
#      a grid of prompts, generations and targets goes to the run directory
#      (and to docs/image-output/ with T2I_DOCS=1).
set -euo pipefail
loom=$1; src=$2; python=$src/.venv/bin/python
work=$(mktemp -d)
[ -n "${T2I_KEEP:-}" ] && echo "work dir (kept): $work" || trap 'rm -rf "$work"' EXIT
tokenizer=$src/.cache/assets/qwen3/tokenizer.json
"$python" - "$src/.cache/assets/emoji" "$work" <<'PY'
import json, os, sys
emoji, work = sys.argv[1], sys.argv[2]
img = os.path.join(emoji, "img", "google", "64")
items = sorted((e["short_name"], os.path.join(img, e["image"])) for e in json.load(open(os.path.join(emoji, "emoji.json")))
               if e.get("has_img_google") and e["category"] not in ("Flags", "Symbols", "Component")
               and os.path.exists(os.path.join(img, e["image"])))
named = items[5::len(items) // 24][:24]          # spread over the set
others = [p for _, p in items if p not in {q for _, q in named}][::3][:276]
with open(f"{work}/vq_train.txt", "w") as f:
    f.write("\n".join([p for _, p in named] + others) + "\n")
with open(f"{work}/draw.jsonl", "w") as f:
    for name, path in named:
        f.write(json.dumps({"prompt": name.replace("_", " "), "target_image": path}) + "\n")
json.dump([[n.replace("_", " "), p] for n, p in named], open(f"{work}/named.json", "w"))
PY
cat > "$work/vq.json" <<'JSON'
{"model_type": "janus_vqgan", "embed_dim": 8, "num_embeddings": 256, "latent_channels": 32, "num_patches": 8,
 "base_channels": 32, "channel_multiplier": [1, 2], "num_res_blocks": 1, "projection_dim": 16,
 "image_token_embed_dim": 32}
JSON
"$loom" train --model.config "$work/vq.json" --data.train "$work/vq_train.txt" --data.micro_batch_size 16 \
  --train.steps 600 --train.lr 2e-3 --train.warmup_steps 10 --train.log_every 200 \
  --run.db "$work/runs.sqlite" --run.dir "$work/runs" --run.name vq > "$work/vq.log"
tail -n 2 "$work/vq.log"
"$loom" data build --format chat --tokenizer "$tokenizer" --input "$work/draw.jsonl" --output "$work/draw" \
  --image-tokenizer "$work/runs/vq/final" | tee "$work/build.log"
grep -q "conversations 24, .* output images 24, skipped 0" "$work/build.log"
cat > "$work/drawer.json" <<'JSON'
{"model_type": "loom_omni", "image_out_start_token_id": 151652, "image_out_end_token_id": 151653,
 "components": {
  "llm": {"model_type": "qwen3", "vocab_size": 151936, "hidden_size": 128, "intermediate_size": 384,
          "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
          "max_position_embeddings": 4096, "tie_word_embeddings": true},
  "image_out": {"num_embeddings": 256, "embed_dim": 8, "num_patches": 8, "projection_dim": 128,
                "image_token_embed_dim": 128, "num_hidden_layers": 2, "hidden_act": "gelu"}}}
JSON
"$loom" train --model.config "$work/drawer.json" --data.train "$work/draw" --data.seq_len 128 \
  --data.micro_batch_size 24 --train.steps "${T2I_STEPS:-250}" --train.lr 3e-3 --train.warmup_steps 20 \
  --train.log_every 10 --run.db "$work/runs.sqlite" --run.dir "$work/runs" --run.name drawer > "$work/drawer.log"
tail -n 2 "$work/drawer.log"
"$python" - "$work" <<'PY' > "$work/prompts.tsv"
import json, sys
for i, (name, path) in enumerate(json.load(open(f"{sys.argv[1]}/named.json"))[:20]):
    print(f"{i}\t{name}")
PY
while IFS=$'\t' read -r i name; do
  "$loom" generate --model "$work/runs/drawer/final" --prompt "$name" --max-new-tokens 70 \
    --images-out "$work/gen/$i" > "$work/gen_$i.log"
  sed -n 's/^reply: /  '"$name"': /p' "$work/gen_$i.log"
done < "$work/prompts.tsv"
# Sampled with classifier-free guidance, the reply opened by --draw: still one whole image.
"$loom" generate --model "$work/runs/drawer/final" --prompt "$(sed -n 1p "$work/prompts.tsv" | cut -f2)" --draw \
  --cfg-scale 3 --temperature 0.7 --top-k 20 --seed 1 --max-new-tokens 70 --images-out "$work/gen_cfg" | tee "$work/cfg.log"
[ -f "$work/gen_cfg/image_0.png" ] || { echo "--draw --cfg-scale 3 wrote no image" >&2; exit 1; }
"$python" - "$work" "$src" "${T2I_DOCS:-0}" <<'PY'
import json, os, shutil, sqlite3, sys
import numpy as np, torch, torch.nn.functional as F
from PIL import Image, ImageDraw
work, src, docs = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
named = json.load(open(f"{work}/named.json"))
def load(p):  # as the VQ reads images: RGB, bilinear to 16 x 16
    x = torch.from_numpy(np.asarray(Image.open(p).convert("RGB"))).permute(2, 0, 1).float().unsqueeze(0)
    return F.interpolate(x, size=(16, 16), mode="bilinear", align_corners=False).clamp(0, 255)[0]
train = torch.stack([load(p) for _, p in named])  # (24, 3, 16, 16)
# The ceiling: the image tokenizer's own reconstructions (what perfect codes decode to).
from transformers.models.janus.modeling_janus import JanusVQVAE
vq = JanusVQVAE.from_pretrained(f"{work}/runs/vq/final").float().eval()
with torch.no_grad():
    _, _, codes = vq.encode(train / 127.5 - 1)
    recon = ((vq.decode(codes.view(len(named), -1)).clamp(-1, 1) + 1) * 127.5)
ceiling = sum(int(((train - recon[i]) ** 2).mean(dim=(1, 2, 3)).argmin()) == i for i in range(20))
hits, tiles = 0, []
for i, (name, path) in enumerate(named[:20]):
    png = f"{work}/gen/{i}/image_0.png"
    assert os.path.exists(png), f"'{name}': the model drew no image (see {work}/gen_{i}.log)"
    g = load(png)
    nearest = int(((train - g) ** 2).mean(dim=(1, 2, 3)).argmin())
    hits += nearest == i
    tiles.append((name, png, path, nearest == i))
extras = sqlite3.connect(f"{work}/runs.sqlite").execute(
    "SELECT s.extra FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.name = 'drawer' ORDER BY s.step").fetchall()
by = [json.loads(e).get("loss_by_modality", {}) for (e,) in extras if e]
image_loss = [b["image_out"] for b in by if "image_out" in b]
print(f"image-token loss (run store, group image_out): first {image_loss[0]:.3f}, last {image_loss[-1]:.3f}")
print(f"nearest training image is the named one: {hits} / 20 (chance 1/24 each; the image tokenizer's own "
      f"reconstructions: {ceiling} / 20)")
grid = Image.new("RGB", (4 * 210, 5 * 84), "white")
draw = ImageDraw.Draw(grid)
for k, (name, png, path, ok) in enumerate(tiles):
    x, y = (k % 4) * 210, (k // 4) * 84
    grid.paste(Image.open(png).convert("RGB").resize((64, 64), Image.NEAREST), (x + 4, y + 16))
    grid.paste(Image.open(path).convert("RGB").resize((64, 64)), (x + 72, y + 16))
    draw.text((x + 4, y + 2), name[:30], fill="black")
    draw.text((x + 140, y + 40), "match" if ok else "miss", fill="green" if ok else "red")
out = f"{work}/runs/drawer/grid.png"
grid.save(out)
if docs:
    shutil.copy(out, f"{src}/docs/image-output/text_to_image_grid.png")
assert image_loss[-1] < 0.5 * image_loss[0], "the image-token loss did not fall"
assert hits >= 15, f"only {hits} / 20 generations are nearest their named emoji"
PY
