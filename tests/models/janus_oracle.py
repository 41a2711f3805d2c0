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

  janus_oracle.py make omni_image_out OUT_DIR
      a loom_omni model directory OUT_DIR/model (a tiny Qwen3 as "llm", a
      JanusVQVAE config as "image_out"; Loom's parameter names) and
      OUT_DIR/ref.safetensors: two rows of text and image codes (code c is
      id V + c), their labels, the text loss and the image-token loss each
      row gives when composed from transformers' modules (Qwen3's embedding
      and decoder, nn.Embedding as Janus's generation_embeddings,
      JanusVQVAEAlignerMLP, JanusVQVAEHead), and the gradients of the total.
"""
import json
import os
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


def make_omni_image_out(out):
    from transformers import Qwen3Config, Qwen3ForCausalLM
    torch.manual_seed(1)
    vocab, hidden, codes, start, end = 64, 24, 32, 60, 61
    text_cfg = Qwen3Config(vocab_size=vocab, hidden_size=hidden, intermediate_size=48, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                           tie_word_embeddings=False, rms_norm_eps=1e-6)
    vq_cfg = JanusVQVAEConfig(embed_dim=8, num_embeddings=codes, num_patches=2, projection_dim=hidden,
                              image_token_embed_dim=hidden, num_hidden_layers=2, hidden_act="gelu",
                              base_channels=32, channel_multiplier=[1, 2], num_res_blocks=1, latent_channels=32)
    llm = perturbed(Qwen3ForCausalLM(text_cfg).float(), 0.02)
    embeddings = perturbed(torch.nn.Embedding(codes, 8), 0.0)
    aligner = perturbed(JanusVQVAEAlignerMLP(vq_cfg).float(), 0.1)
    head = perturbed(JanusVQVAEHead(vq_cfg).float(), 0.1)
    c = lambda *xs: [vocab + x for x in xs]
    ids = torch.tensor([[5, 9, start] + c(3, 17, 0, 31) + [end, 7, 3, 2, 4],
                        [8, start] + c(1, 1, 30, 12) + [end, start] + c(5, 6, 7, 8)])
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    is_code = ids >= vocab

    def losses():
        emb = llm.model.embed_tokens(ids.masked_fill(is_code, 0))
        emb = emb.masked_scatter(is_code.unsqueeze(-1), aligner(embeddings(ids[is_code] - vocab)))
        h = llm.model(inputs_embeds=emb).last_hidden_state
        text = torch.nn.functional.cross_entropy(llm.lm_head(h).flatten(0, 1), labels.masked_fill(labels >= vocab, -100)
                                                 .flatten(), reduction="none").view_as(labels)
        code_at = labels >= vocab
        image = torch.zeros_like(text)
        image[code_at] = torch.nn.functional.cross_entropy(head(h[code_at]), labels[code_at] - vocab, reduction="none")
        return text, image

    text, image = losses()
    (text.sum() + image.sum()).backward()
    os.makedirs(f"{out}/model", exist_ok=True)
    state = {f"llm.{k}": v for k, v in llm.state_dict().items()}
    state.update({f"image_out.embeddings.{k}": v for k, v in embeddings.state_dict().items()})
    state.update({f"image_out.aligner.{k}": v for k, v in aligner.state_dict().items()})
    state.update({f"image_out.head.{k}": v for k, v in head.state_dict().items()})
    save_file({k: v.contiguous() for k, v in state.items()}, f"{out}/model/model.safetensors")
    vq_json = json.loads(vq_cfg.to_json_string())
    config = {"model_type": "loom_omni", "image_out_start_token_id": start, "image_out_end_token_id": end,
              "components": {"llm": json.loads(text_cfg.to_json_string()), "image_out": vq_json}}
    with open(f"{out}/model/config.json", "w") as f:
        json.dump(config, f, indent=2)
    ref = {"input_ids": ids, "labels": labels, "text_loss_by_row": text.sum(1).detach(),
           "image_loss_by_row": image.sum(1).detach(), "loss": (text.sum() + image.sum()).detach().reshape(1),
           "grad_embeddings": embeddings.weight.grad, "grad_vision_head": head.vision_head.weight.grad,
           "grad_aligner_fc1": aligner.fc1.weight.grad, "grad_lm_head": llm.lm_head.weight.grad,
           "grad_q_proj0": llm.model.layers[0].self_attn.q_proj.weight.grad}
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "janus_vq":
        make(sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "make" and sys.argv[2] == "omni_image_out":
        make_omni_image_out(sys.argv[3])
    else:
        raise SystemExit(__doc__)
