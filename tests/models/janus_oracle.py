#!/usr/bin/env python3
"""Reference oracle for Janus's VQ image tokenizer (transformers' JanusVQVAE)
and its generation head and aligner (JanusVQVAEHead, JanusVQVAEAlignerMLP),
on tiny random models.

  janus_oracle.py make janus_vq OUT_DIR
      saves OUT_DIR/model (config.json + model.safetensors, the JanusVQVAE's
      own names), OUT_DIR/head.safetensors and OUT_DIR/aligner.safetensors,
      and OUT_DIR/ref.safetensors: two 16x16 images in [-1, 1], their codes
      (B, 64), the straight-through quantized latents, the codebook +
      commitment loss, the pixels decode(codes) gives, the gradient of
      sum(quantized * probe) + loss for the encoder's first and last convs,
      and the head's and aligner's outputs on random inputs.
"""
import sys

import torch
from safetensors.torch import save_file
from transformers.models.janus.configuration_janus import JanusVQVAEConfig
from transformers.models.janus.modeling_janus import JanusVQVAE, JanusVQVAEAlignerMLP, JanusVQVAEHead


def config():
    return JanusVQVAEConfig(embed_dim=8, num_embeddings=64, latent_channels=32, num_patches=8, base_channels=32,
                            channel_multiplier=[1, 2], num_res_blocks=1, projection_dim=16, num_hidden_layers=2,
                            image_token_embed_dim=24, hidden_act="gelu")


def perturbed(module, scale):
    # HF's init leaves norms at 1/0 and small convs: perturb every parameter so
    # norms, biases and the codebook all matter (and codes differ per position).
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module


def make(out):
    torch.manual_seed(0)
    c = config()
    vq = perturbed(JanusVQVAE(c).float().eval(), 0.1)
    vq.save_pretrained(f"{out}/model", safe_serialization=True)
    pixels = torch.rand(2, 3, 16, 16) * 2 - 1
    quant, loss, codes = vq.encode(pixels)
    probe = torch.randn_like(quant)
    ((quant * probe).sum() + loss).backward()
    with torch.no_grad():
        decoded = vq.decode(codes.view(2, -1))
    head = perturbed(JanusVQVAEHead(c).float(), 0.1)
    aligner = perturbed(JanusVQVAEAlignerMLP(c).float(), 0.1)
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, f"{out}/head.safetensors")
    save_file({k: v.contiguous() for k, v in aligner.state_dict().items()}, f"{out}/aligner.safetensors")
    hidden = torch.randn(2, 5, 24)
    embeds = torch.randn(2, 5, 8)
    with torch.no_grad():
        head_out, aligner_out = head(hidden), aligner(embeds)
    ref = {"pixels": pixels, "codes": codes.view(2, -1), "quantized": quant.detach(), "loss": loss.detach().reshape(1),
           "probe": probe, "decoded": decoded, "grad_conv_in": vq.encoder.conv_in.weight.grad,
           "grad_conv_out": vq.encoder.conv_out.weight.grad, "hidden": hidden, "head": head_out, "embeds": embeds,
           "aligner": aligner_out}
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "janus_vq":
        make(sys.argv[3])
    else:
        raise SystemExit(__doc__)
