#!/usr/bin/env python3
"""Reference oracle for the Whisper-style audio encoders on tiny random models.

  audio_oracle.py make whisper_encoder OUT_DIR
      transformers' WhisperEncoder: OUT_DIR/model (config.json of the
      WhisperConfig, model.safetensors with the encoder's own state_dict
      names) and OUT_DIR/ref.safetensors: features of two clips, the output,
      and the gradients of sum(output * probe) for every trainable parameter
      and for the features.

  audio_oracle.py make qwen2_audio_encoder OUT_DIR
      transformers' Qwen2AudioEncoder (Whisper + AvgPool1d(2) + norm): the same
      for two clips of different lengths (100 and 61 frames, the rest zero),
      masked as Qwen2AudioForConditionalGeneration masks them; the probe
      covers only each clip's real output rows.

Weights are perturbed from HF's init so every norm and bias matters.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

TINY = dict(num_mel_bins=80, d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=64,
            max_source_positions=50)
LENGTHS = [100, 61]


def perturb(model):
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))


def save(model, config_dict, out):
    os.makedirs(f"{out}/model", exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, f"{out}/model/model.safetensors")
    with open(f"{out}/model/config.json", "w") as f:
        json.dump(config_dict, f, indent=2)


def run(model, features, probe_mask, attention_mask, out, ref):
    x = features.clone().requires_grad_(True)
    y = model(x, attention_mask=attention_mask).last_hidden_state
    g = torch.Generator().manual_seed(3)
    probe = torch.randn(y.shape, generator=g) * probe_mask
    (y * probe).sum().backward()
    ref.update(output=y.detach(), probe=probe, **{"grad.input_features": x.grad.detach()})
    for name, p in model.named_parameters():
        if p.requires_grad:
            ref["grad." + name] = p.grad.detach().clone()
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


def make_whisper(out):
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder
    torch.manual_seed(0)
    config = WhisperConfig(**TINY)
    config._attn_implementation = "eager"
    model = WhisperEncoder(config).float().train()
    perturb(model)
    save(model, config.to_dict(), out)
    features = torch.randn(2, 80, 100, generator=torch.Generator().manual_seed(1))
    run(model, features, torch.ones(1), None, out, dict(input_features=features))


def make_qwen2_audio(out):
    from transformers.models.qwen2_audio.configuration_qwen2_audio import Qwen2AudioEncoderConfig
    from transformers.models.qwen2_audio.modeling_qwen2_audio import Qwen2AudioEncoder
    torch.manual_seed(0)
    config = Qwen2AudioEncoderConfig(**TINY)
    config._attn_implementation = "eager"
    model = Qwen2AudioEncoder(config).float().train()
    perturb(model)
    save(model, config.to_dict(), out)
    features = torch.randn(2, 80, 100, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor(LENGTHS)
    for i, n in enumerate(LENGTHS):
        features[i, :, n:] = 0
    # As Qwen2AudioForConditionalGeneration.forward builds it.
    feat_lengths, out_lengths = model._get_feat_extract_output_lengths(lengths)
    max_len = (features.shape[-1] - 2) // 2 + 1
    padding = torch.arange(max_len).unsqueeze(0) >= feat_lengths.unsqueeze(1)
    mask = padding.view(2, 1, 1, max_len).expand(2, 1, max_len, max_len)
    attention_mask = torch.zeros(mask.shape)
    attention_mask[mask] = float("-inf")
    rows = (torch.arange(max_len // 2).unsqueeze(0) < out_lengths.unsqueeze(1)).float().unsqueeze(-1)
    run(model, features, rows, attention_mask, out,
        dict(input_features=features, lengths=lengths, output_lengths=out_lengths))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "whisper_encoder":
        make_whisper(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "qwen2_audio_encoder":
        make_qwen2_audio(sys.argv[3])
    else:
        raise SystemExit(__doc__)
