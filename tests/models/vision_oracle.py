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

  vision_oracle.py make qwen2_vl_mrope OUT_DIR
      a tiny Qwen2VLForConditionalGeneration: OUT_DIR/model holds its language
      model as a Qwen2 decoder with rope_scaling {"type": "mrope"} (names
      model.*, lm_head.*); OUT_DIR/ref.safetensors holds get_rope_index's
      (3, B, T) position ids for two padded rows mixing text, two images and a
      video, the logits of those rows (text tokens only: no pixels), and the
      positions of a packed row (each document alone, concatenated).

  vision_oracle.py make qwen2_vl OUT_DIR
      a tiny Qwen2VLForConditionalGeneration saved by save_pretrained as
      OUT_DIR/model (the directory layout transformers writes), and
      OUT_DIR/ref.safetensors: a padded batch of two rows (two images of
      different grids, a two-frame video), its pixels and grids, the logits,
      the mean loss over shifted labels and every parameter's gradient (named
      as Loom names them: vision.*, llm.model.*, llm.lm_head.*), the losses of
      STEPS AdamW steps (clipped), and the per-document logits of a packed row.

  vision_oracle.py check_vl MODEL_DIR EXPECTED
      loads MODEL_DIR (a Loom export) in transformers and compares its logits
      on EXPECTED's batch with EXPECTED's logits (exit 1 above 1e-4).

Conventions shared with tests/models/vision_parity_test.cc and
omni_parity_test.cc: AdamW decays
parameters with dim >= 2 only; attention is HF's eager per-frame path.
"""
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers.models.qwen2_vl.configuration_qwen2_vl import Qwen2VLVisionConfig
from transformers.models.qwen2_vl.modeling_qwen2_vl import Qwen2VisionTransformerPretrainedModel

from oracle_common import adamw_losses, exit_on_logit_diff, mean_token_loss, shifted_labels
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

    target = torch.randn(out_t.shape, generator=g)
    ref["train_target"] = target
    ref["train_losses"] = adamw_losses(model.parameters(), lambda: ((model(pixels, grid_thw=grid) - target) ** 2).mean())
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


IMAGE, VIDEO, VSTART, VEND = 100, 101, 102, 103


def vl_config():
    from transformers import Qwen2VLConfig
    vision = dict(depth=2, embed_dim=32, hidden_size=64, num_heads=4, patch_size=4)
    text = dict(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=False,
                rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
    return Qwen2VLConfig(text_config=text, vision_config=vision, image_token_id=IMAGE, video_token_id=VIDEO,
                         vision_start_token_id=VSTART, vision_end_token_id=VEND, tie_word_embeddings=False)


def make_mrope(out):
    import json
    import os
    from transformers import Qwen2VLForConditionalGeneration
    torch.manual_seed(0)
    config = vl_config()
    config._attn_implementation = "eager"
    model = Qwen2VLForConditionalGeneration(config).float().eval()
    # HF's init (std 0.02) makes logits nearly blind to positions; larger
    # weights make the M-RoPE rows matter far above the 1e-4 bound.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.15 if p.dim() >= 2 else 1 + 0.1 * torch.randn_like(p))
    tc = config.text_config
    state = {}
    for name, t in model.state_dict().items():
        if name.startswith("model.language_model."):
            state["model." + name[len("model.language_model."):]] = t.contiguous()
        elif name.startswith("lm_head."):
            state[name] = t.contiguous()
    os.makedirs(f"{out}/model", exist_ok=True)
    save_file(state, f"{out}/model/model.safetensors")
    ours = dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], vocab_size=tc.vocab_size,
                hidden_size=tc.hidden_size, intermediate_size=tc.intermediate_size,
                num_hidden_layers=tc.num_hidden_layers, num_attention_heads=tc.num_attention_heads,
                num_key_value_heads=tc.num_key_value_heads, max_position_embeddings=tc.max_position_embeddings,
                rope_theta=tc.rope_theta, rms_norm_eps=tc.rms_norm_eps, tie_word_embeddings=False,
                hidden_act="silu", rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]})
    with open(f"{out}/model/config.json", "w") as f:
        json.dump(ours, f, indent=2)

    # Row 0: text, an image of grid 1x4x6 (2x3 = 6 tokens), text, an image of
    # grid 1x2x2 (1 token), text. Row 1: text, a video of grid 2x2x4 (2x1x2 = 4
    # tokens), text, then padding.
    row0 = [1, 2, VSTART] + [IMAGE] * 6 + [VEND, 5, 6, VSTART, IMAGE, VEND, 7, 8]
    row1 = [3, VSTART] + [VIDEO] * 4 + [VEND, 9, 10, 11]
    length = len(row0)
    ids = torch.tensor([row0, row1 + [0] * (length - len(row1))])
    mask = torch.tensor([[1] * length, [1] * len(row1) + [0] * (length - len(row1))])
    image_grid = torch.tensor([[1, 4, 6], [1, 2, 2]])
    video_grid = torch.tensor([[2, 2, 4]])
    pos, _ = model.model.get_rope_index(ids, image_grid, video_grid, mask)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=pos).logits
    # Packed: row1's document then row0's, each positioned alone.
    doc_a, doc_b = torch.tensor([row1]), torch.tensor([row0])
    pa, _ = model.model.get_rope_index(doc_a, None, video_grid, None)
    pb, _ = model.model.get_rope_index(doc_b, image_grid, None, None)
    ref = dict(input_ids=ids, attention_mask=mask, image_grid_thw=image_grid, video_grid_thw=video_grid,
               position_ids=pos, logits=logits, packed_input_ids=torch.cat([doc_a, doc_b], 1),
               packed_doc_lens=torch.tensor([doc_a.shape[1], doc_b.shape[1]]),
               packed_position_ids=torch.cat([pa, pb], 2))
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


def loom_name(hf_name):
    for hf, ours in (("model.visual.", "vision."), ("model.language_model.", "llm.model."), ("lm_head.", "llm.lm_head.")):
        if hf_name.startswith(hf):
            return ours + hf_name[len(hf):]
    raise KeyError(hf_name)


def vl_batch():
    """Two padded rows: text, image 1x4x6 (6 tokens), text, image 1x2x2 (1
    token), text | text, video 2x2x4 (4 tokens), text, padding."""
    g = torch.Generator().manual_seed(2)
    row0 = [1, 2, VSTART] + [IMAGE] * 6 + [VEND, 5, 6, VSTART, IMAGE, VEND, 7, 8]
    row1 = [3, VSTART] + [VIDEO] * 4 + [VEND, 9, 10, 11]
    length = len(row0)
    ids = torch.tensor([row0, row1 + [0] * (length - len(row1))])
    mask = torch.tensor([[1] * length, [1] * len(row1) + [0] * (length - len(row1))])
    labels = shifted_labels(ids, mask)
    return dict(input_ids=ids, attention_mask=mask, labels=labels,
                pixel_values=torch.randn(28, 96, generator=g), image_grid_thw=torch.tensor([[1, 4, 6], [1, 2, 2]]),
                pixel_values_videos=torch.randn(16, 96, generator=g), video_grid_thw=torch.tensor([[2, 2, 4]]))


def vl_logits(model, b):
    return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], pixel_values=b["pixel_values"],
                 image_grid_thw=b["image_grid_thw"], pixel_values_videos=b["pixel_values_videos"],
                 video_grid_thw=b["video_grid_thw"]).logits


def vl_loss(model, b):
    logits = vl_logits(model, b)
    return mean_token_loss(logits, b["labels"]), logits


def make_vl(out):
    from transformers import Qwen2VLForConditionalGeneration
    torch.manual_seed(0)
    config = vl_config()
    config._attn_implementation = "eager"
    config.vision_config._attn_implementation = "eager"
    model = Qwen2VLForConditionalGeneration(config).float().train()
    # Weights large enough that positions, pixels and every norm matter
    # far above the bounds (HF's 0.02 init leaves logits nearly uniform).
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "visual" in name:
                p.add_(0.05 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * 0.15 if p.dim() >= 2 else 1 + 0.1 * torch.randn_like(p))
    model.save_pretrained(f"{out}/model", safe_serialization=True)
    b = vl_batch()
    ref = dict(b)
    loss, logits = vl_loss(model, b)
    loss.backward()
    ref.update(logits=logits.detach(), loss=loss.detach().double().reshape(1))
    for name, p in model.named_parameters():
        ref["grad." + loom_name(name)] = p.grad.detach().clone()
    # Packed row: the video document then the image document, each alone.
    rows = b["input_ids"]
    doc_a, doc_b = rows[1:, :10], rows[:1]
    with torch.no_grad():
        la = model(input_ids=doc_a, pixel_values_videos=b["pixel_values_videos"],
                   video_grid_thw=b["video_grid_thw"]).logits
        lb = model(input_ids=doc_b, pixel_values=b["pixel_values"], image_grid_thw=b["image_grid_thw"]).logits
    ref.update(packed_input_ids=torch.cat([doc_a, doc_b], 1), packed_doc_ids=torch.tensor([[0] * 10 + [1] * 17]),
               packed_logits=torch.cat([la, lb], 1))
    ref["train_losses"] = adamw_losses(model.parameters(), lambda: vl_loss(model, b)[0])
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


def check_vl(model_dir, expected_path):
    from safetensors.torch import load_file
    from transformers import Qwen2VLForConditionalGeneration
    exp = load_file(expected_path)
    model = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, torch_dtype=torch.float32,
                                                            attn_implementation="eager").eval()
    with torch.no_grad():
        logits = vl_logits(model, exp)
    exit_on_logit_diff(logits, exp["logits"], exp["attention_mask"])


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "qwen2_vision":
        make(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "qwen2_vl_mrope":
        make_mrope(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "qwen2_vl":
        make_vl(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "check_vl":
        check_vl(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
