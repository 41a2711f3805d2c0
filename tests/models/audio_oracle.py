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

  audio_oracle.py make qwen2_audio OUT_DIR
      a tiny Qwen2AudioForConditionalGeneration saved by save_pretrained as
      OUT_DIR/model, and OUT_DIR/ref.safetensors: a padded batch of two rows,
      one per clip (100 and 61 frames: 25 and 15 audio tokens), the logits,
      the mean loss over shifted labels and every trainable parameter's
      gradient (named as Loom names them: audio.encoder.*, audio.projector.*,
      llm.*), and the losses of 10 AdamW steps (clipped).

  audio_oracle.py check_audio MODEL_DIR EXPECTED
      loads MODEL_DIR (a Loom export) in transformers and compares its logits
      on EXPECTED's batch with EXPECTED's logits (exit 1 above 1e-4).

Weights are perturbed from HF's init so every norm and bias matters.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

from oracle_common import adamw_losses, exit_on_logit_diff, mean_token_loss, shifted_labels

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


AUDIO = 100


def loom_name(hf_name):
    for hf, ours in (("audio_tower.", "audio.encoder."), ("multi_modal_projector.linear.", "audio.projector."),
                     ("language_model.", "llm.")):
        if hf_name.startswith(hf):
            return ours + hf_name[len(hf):]
    raise KeyError(hf_name)


def audio_batch():
    g = torch.Generator().manual_seed(4)
    features = torch.randn(2, 80, 100, generator=g)
    frames = torch.zeros(2, 100, dtype=torch.long)
    for i, n in enumerate(LENGTHS):
        features[i, :, n:] = 0
        frames[i, :n] = 1
    row0 = [1, 2] + [AUDIO] * 25 + [5, 6, 7]
    row1 = [3] + [AUDIO] * 15 + [8, 9]
    length = len(row0)
    ids = torch.tensor([row0, row1 + [0] * (length - len(row1))])
    mask = torch.tensor([[1] * length, [1] * len(row1) + [0] * (length - len(row1))])
    labels = shifted_labels(ids, mask)
    return dict(input_ids=ids, attention_mask=mask, labels=labels, input_features=features,
                feature_attention_mask=frames, feature_lengths=frames.sum(-1))


def audio_logits(model, b):
    return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], input_features=b["input_features"],
                 feature_attention_mask=b["feature_attention_mask"]).logits


def audio_loss(model, b):
    logits = audio_logits(model, b)
    return mean_token_loss(logits, b["labels"]), logits


def make_audio_model(out):
    from transformers import Qwen2AudioConfig, Qwen2AudioForConditionalGeneration
    torch.manual_seed(0)
    text = dict(model_type="qwen2", vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0, tie_word_embeddings=False)
    config = Qwen2AudioConfig(audio_config=TINY, text_config=text, audio_token_index=AUDIO)
    config._attn_implementation = "eager"
    config.audio_config._attn_implementation = "eager"
    config.text_config._attn_implementation = "eager"
    model = Qwen2AudioForConditionalGeneration(config).float().train()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.startswith("language_model."):
                p.copy_(torch.randn_like(p) * 0.15 if p.dim() >= 2 else 1 + 0.1 * torch.randn_like(p))
            else:
                p.add_(0.1 * torch.randn_like(p))
    model.save_pretrained(f"{out}/model", safe_serialization=True)
    b = audio_batch()
    ref = dict(b)
    loss, logits = audio_loss(model, b)
    loss.backward()
    ref.update(logits=logits.detach(), loss=loss.detach().double().reshape(1))
    for name, p in model.named_parameters():
        if p.requires_grad:
            ref["grad." + loom_name(name)] = p.grad.detach().clone()
    trainable = [p for p in model.parameters() if p.requires_grad]  # not the frozen position table
    ref["train_losses"] = adamw_losses(trainable, lambda: audio_loss(model, b)[0])
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


def check_audio(model_dir, expected_path):
    from safetensors.torch import load_file
    from transformers import Qwen2AudioForConditionalGeneration
    exp = load_file(expected_path)
    model = Qwen2AudioForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32,
                                                               attn_implementation="eager").eval()
    with torch.no_grad():
        logits = audio_logits(model, exp)
    exit_on_logit_diff(logits, exp["logits"], exp["attention_mask"])


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "whisper_encoder":
        make_whisper(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "qwen2_audio_encoder":
        make_qwen2_audio(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "qwen2_audio":
        make_audio_model(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "check_audio":
        check_audio(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
