#!/usr/bin/env bash
# Loom trains its own image tokenizer (a Janus VQ, model_type janus_vqgan) on
# real emoji (npm emoji-datasource-google, 64 x 64 PNGs, at 32 x 32 -> 16 x 16
# codes) with `loom train`, then:
#   - the held-out reconstruction PSNR it reports beats the best constant
#     image (each held-out image's own mean colour) by a stated margin;
#   - transformers' JanusVQVAE loads the export, and its encode -> decode on
#     the same held-out images gives the same PSNR (the trained tokenizer is
#     HF-compatible, codebook and all);
#   - a data folder without images fails before training, naming the fix.
set -euo pipefail
loom=$1; src=$2; python=$src/.venv/bin/python
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
emoji=$src/.cache/assets/emoji/img/google/64
# (awk stops itself: `head` would end the pipe early, a SIGPIPE under pipefail)
find "$emoji" -name '*.png' | sort | awk 'NR % 9 == 0 && ++n <= 200' > "$work/train.txt"   # spread over the whole set
find "$emoji" -name '*.png' | sort | awk 'NR % 9 == 4 && ++n <= 40' > "$work/heldout.txt"  # other emoji, never trained on
cat > "$work/vq.json" <<'JSON'
{"model_type": "janus_vqgan", "embed_dim": 8, "num_embeddings": 256, "latent_channels": 32, "num_patches": 16,
 "base_channels": 32, "channel_multiplier": [1, 2], "num_res_blocks": 1, "projection_dim": 16,
 "image_token_embed_dim": 32}
JSON
"$loom" train --model.config "$work/vq.json" --data.train "$work/train.txt" --data.eval "$work/heldout.txt" \
  --data.micro_batch_size 16 --train.steps 300 --train.lr 2e-3 --train.warmup_steps 10 --train.eval_every 100 \
  --train.log_every 50 --run.db "$work/runs.sqlite" --run.dir "$work/runs" --run.name vq | tee "$work/train.log"
grep -q "loom train (VQ image tokenizer): 200 training images, 40 held out, 32x32 pixels -> 16x16 codes of 256" "$work/train.log"
"$loom" runs show vq --db "$work/runs.sqlite" --csv > "$work/vq.csv"
"$python" - "$work" <<'PY'
import csv, json, math, sys
import torch, torch.nn.functional as F
from PIL import Image
from transformers.models.janus.modeling_janus import JanusVQVAE
work = sys.argv[1]
rows = list(csv.DictReader(open(f"{work}/vq.csv")))
evals = [json.loads(r["eval_psnr"]) for r in rows if r.get("eval_psnr")]
loom_psnr = evals[-1]
paths = open(f"{work}/heldout.txt").read().split()
x = torch.stack([torch.from_numpy(__import__("numpy").asarray(Image.open(p).convert("RGB"))).permute(2, 0, 1).float() for p in paths])
x = F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False).clamp(0, 255) / 127.5 - 1
mean_colour = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
baseline = 10 * math.log10(4 / F.mse_loss(mean_colour, x).item())
vq = JanusVQVAE.from_pretrained(f"{work}/runs/vq/final").float().eval()
with torch.no_grad():
    _, _, codes = vq.encode(x)
    hf = vq.decode(codes.view(len(paths), -1))
hf_psnr = 10 * math.log10(4 / F.mse_loss(hf, x).item())
print(f"held-out PSNR: Loom {loom_psnr:.3f} dB (evaluations {', '.join(f'{e:.2f}' for e in evals)}), "
      f"transformers on Loom's export {hf_psnr:.3f} dB, best constant image {baseline:.3f} dB")
assert evals[-1] > evals[0], "the held-out PSNR did not improve with training"
assert loom_psnr >= baseline + 3.0, f"Loom's VQ ({loom_psnr:.2f} dB) is not 3 dB above a constant image ({baseline:.2f} dB)"
assert abs(hf_psnr - loom_psnr) < 0.01, "transformers decodes Loom's export differently"
PY
mkdir -p "$work/empty"
if "$loom" train --model.config "$work/vq.json" --data.train "$work/empty" --run.db "$work/runs.sqlite" > "$work/bad.log" 2>&1; then
  echo "an empty image folder trained" >&2; exit 1
fi
grep -q "holds no images; fix: add .png / .jpg / .bmp / .gif files (or list their paths)" "$work/bad.log" || { cat "$work/bad.log"; exit 1; }
