#!/usr/bin/env python3
"""Reference oracle for the Qwen2-VL vision tower (transformers'
Qwen2VisionTransformerPretrainedModel) on a tiny random model.

  vision_oracle.py make qwen2_vision OUT_DIR
      saves OUT_DIR/model (config.json + model.safetensors, the tower's own
      state_dict names) and OUT_DIR/ref.safetensors: the flattened patches of
      two images of different grid sizes and a two-frame video (grid t = 2)
      in one batch, their grid_thw, the tower's output, the gradients of
      sum(output * probe) for every parameter and for the patches, and the
      losses of STEPS AdamW steps (clipped) on a regression loss.

Conventions shared with tests/models/vision_parity_test.cc: AdamW decays
parameters with dim >= 2 only; attention is HF's eager per-frame path.
"""
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

LR, BETAS, EPS, WD, CLIP, STEPS = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1.0, 10
GRID = [[1, 4, 6], [1, 2, 2], [2, 2, 4]]  # image, image, video (t = 2)


def make(out):
    torch.manual_seed(0)
    config = Qwen2VLVisionConfig(depth=2, embed_dim=32, hidden_size=64, num_heads=4, patch_size=4)
    config._attn_implementation = "eager"
    model = Qwen2VisionTransformerPretrainedModel(config).float()
    # HF's init leaves LayerNorm at 1/0 and small weights; perturb every
    # parameter so norms, biases and the rotary all matter for the gradients.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(f"{out}/model", safe_serialization=True)
    g = torch.Generator().manual_seed(1)
    grid = torch.tensor(GRID, dtype=torch.long)
    n = int((grid[:, 0] * grid[:, 1] * grid[:, 2]).sum())
    patch_dim = config.in_channels * config.temporal_patch_size * config.patch_size ** 2
    pixels = torch.randn(n, patch_dim, generator=g)
    ref = dict(pixel_values=pixels.clone(), grid_thw=grid)

    px = pixels.clone().requires_grad_(True)
    out_t = model(px, grid_thw=grid)
    probe = torch.randn(out_t.shape, generator=g)
    (out_t * probe).sum().backward()
    ref.update(output=out_t.detach(), probe=probe, **{"grad.pixel_values": px.grad.detach()})
    for name, p in model.named_parameters():
        ref["grad." + name] = p.grad.detach().clone()

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    target = torch.randn(out_t.shape, generator=g)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = ((model(pixels, grid_thw=grid) - target) ** 2).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP)
        opt.step()
        losses.append(loss.item())
    ref["train_target"] = target
    ref["train_losses"] = torch.tensor(losses, dtype=torch.float64)
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "qwen2_vision":
        make(sys.argv[3])
    else:
        raise SystemExit(__doc__)
