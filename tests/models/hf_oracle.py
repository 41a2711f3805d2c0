#!/usr/bin/env python3
"""Reference oracle: Hugging Face transformers on tiny random models.

  hf_oracle.py make FAMILY OUT_DIR
      saves OUT_DIR/model (config.json + model.safetensors) and
      OUT_DIR/ref.safetensors with reference logits, gradients, training losses
      and greedy generations for the inputs described below.
  hf_oracle.py check MODEL_DIR EXPECTED.safetensors
      loads MODEL_DIR with transformers and checks its logits on
      EXPECTED["input_ids"] against EXPECTED["logits"] (max-abs <= 1e-4).

Conventions shared with tests/models/hf_parity_test.cc: labels are already
shifted (labels[t] is the target of position t, -100 = ignored); the loss is the
mean over label tokens; AdamW decays parameters with dim >= 2 only.

MoE families (qwen3_moe: norm_topk_prob, layer 1 dense via mlp_only_layers;
qwen3_moe_unnormed: no renormalisation, decoder_sparse_step 2) set
output_router_logits, so every loss is HF's training loss: token mean plus
router_aux_loss_coef x aux_loss (load_balancing_loss_func, padding masked);
gradients of experts that got no token (None in HF) are saved as zeros, and
are zeros in the AdamW steps too (Loom's stacked experts: see make()).
"""
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file

VOCAB, HIDDEN, INTER, LAYERS, HEADS, KV, HEAD_DIM = 128, 64, 96, 2, 4, 2, 16
# A large aux coefficient so its gradient is visible next to the token loss's.
MOE = dict(num_hidden_layers=3, moe_intermediate_size=32, num_experts=8, num_experts_per_tok=2,
           router_aux_loss_coef=0.1, output_router_logits=True)
LR, BETAS, EPS, WD, CLIP, STEPS = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1.0, 10


def make_config(family):
    common = dict(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTER,
                  num_hidden_layers=LAYERS, num_attention_heads=HEADS, num_key_value_heads=KV,
                  head_dim=HEAD_DIM, max_position_embeddings=256, rms_norm_eps=1e-6,
                  bos_token_id=None, eos_token_id=None, pad_token_id=None)
    if family == "llama":
        return transformers.LlamaConfig(**common, rope_theta=500000.0, tie_word_embeddings=False,
                                        attention_bias=True,
                                        rope_scaling=dict(rope_type="llama3", factor=8.0,
                                                          low_freq_factor=1.0, high_freq_factor=4.0,
                                                          original_max_position_embeddings=64))
    if family == "qwen2":
        return transformers.Qwen2Config(**common, rope_theta=1000000.0, tie_word_embeddings=True)
    if family == "qwen3":
        return transformers.Qwen3Config(**common, rope_theta=1000000.0, tie_word_embeddings=False)
    if family in ("qwen3_moe", "qwen3_moe_unnormed"):
        common.update(MOE)
        layout = (dict(norm_topk_prob=True, mlp_only_layers=[1]) if family == "qwen3_moe"
                  else dict(norm_topk_prob=False, decoder_sparse_step=2))
        return transformers.Qwen3MoeConfig(**common, **layout, rope_theta=1000000.0, tie_word_embeddings=False)
    raise SystemExit(f"unknown family {family}")


def shifted_labels(ids, valid):
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    labels[~valid] = -100
    labels[:, :-1][~valid[:, 1:]] = -100
    return labels


def lm_loss(model, out, labels):
    """Mean token loss on pre-shifted labels, plus HF's weighted aux loss when it has one."""
    loss = torch.nn.functional.cross_entropy(out.logits.view(-1, VOCAB), labels.view(-1), ignore_index=-100)
    if getattr(out, "aux_loss", None) is not None:
        loss = loss + model.config.router_aux_loss_coef * out.aux_loss
    return loss


def make(family, out):
    torch.manual_seed(0)
    model_cls = {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
                 "qwen3": transformers.Qwen3ForCausalLM, "qwen3_moe": transformers.Qwen3MoeForCausalLM,
                 "qwen3_moe_unnormed": transformers.Qwen3MoeForCausalLM}[family]
    model = model_cls(make_config(family)).float()
    model.config._attn_implementation = "eager"
    model.save_pretrained(f"{out}/model", safe_serialization=True)
    ref = {}
    g = torch.Generator().manual_seed(1)

    # 1. A padded batch: row 1 has 4 padding positions on the right.
    ids = torch.randint(0, VOCAB, (2, 12), generator=g)
    valid = torch.ones(2, 12, dtype=torch.bool)
    valid[1, 8:] = False
    ids[~valid] = 0
    pos = torch.arange(12).expand(2, 12).contiguous()
    logits = model(input_ids=ids, attention_mask=valid.long(), position_ids=pos).logits
    ref.update(pad_input_ids=ids, pad_valid=valid.long(), pad_logits=logits.detach())

    # 2. A packed row of three documents: reference = each document alone.
    lens = [5, 4, 3]
    packed = torch.randint(0, VOCAB, (1, sum(lens)), generator=g)
    parts, start = [], 0
    for n in lens:
        parts.append(model(input_ids=packed[:, start:start + n]).logits.detach())
        start += n
    ref.update(packed_input_ids=packed, packed_doc_lens=torch.tensor(lens),
               packed_logits=torch.cat(parts, 1))

    # 3. Gradients of the mean token loss on the padded batch.
    labels = shifted_labels(ids, valid)
    model.zero_grad()
    result = model(input_ids=ids, attention_mask=valid.long(), position_ids=pos)
    loss = lm_loss(model, result, labels)
    loss.backward()
    if getattr(result, "aux_loss", None) is not None:
        ref["grad_aux"] = result.aux_loss.detach().reshape(1)
        # HF's own training loss (it shifts unshifted labels itself) is what lm_loss computed.
        unshifted = torch.where(valid, ids, torch.full_like(ids, -100))
        with torch.no_grad():
            hf_loss = model(input_ids=ids, attention_mask=valid.long(), position_ids=pos, labels=unshifted).loss
        assert abs(hf_loss.item() - loss.item()) <= 1e-6 * loss.item(), (hf_loss.item(), loss.item())
    ref["grad_loss"] = loss.detach().reshape(1)
    ref["pad_labels"] = labels
    for name, p in model.named_parameters():
        ref["grad." + name] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)

    # 4. STEPS AdamW steps with clipping on fresh random batches (full rows).
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WD},
                             {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=BETAS, eps=EPS)
    losses, norms = [], []
    for step in range(STEPS):
        x = torch.randint(0, VOCAB, (2, 16), generator=g)
        y = shifted_labels(x, torch.ones_like(x, dtype=torch.bool))
        ref[f"train_ids_{step}"] = x
        opt.zero_grad()
        l = lm_loss(model, model(input_ids=x), y)
        l.backward()
        # Experts that got no token have grad None in HF (AdamW skips them);
        # Loom's stacked experts get zeros (AdamW still decays and moves
        # them), like any grouped-GEMM MoE. Give HF the same semantics.
        for p in model.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP).item())
        opt.step()
        losses.append(l.item())
    ref["train_losses"] = torch.tensor(losses, dtype=torch.float64)
    ref["train_grad_norms"] = torch.tensor(norms, dtype=torch.float64)

    # 5. Greedy generation from the trained model (weights saved separately).
    model.save_pretrained(f"{out}/trained", safe_serialization=True)
    prompt = torch.randint(0, VOCAB, (1, 6), generator=g)
    if hasattr(model.config, "output_router_logits"):
        model.config.output_router_logits = False  # HF's aux loss breaks on cached decoding steps
    gen = model.generate(prompt, max_new_tokens=10, do_sample=False, attention_mask=torch.ones_like(prompt))
    ref.update(gen_prompt=prompt, gen_output=gen)
    save_file({k: v.contiguous() for k, v in ref.items()}, f"{out}/ref.safetensors")


def check(model_dir, expected_path):
    exp = load_file(expected_path)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32)
    logits = model(input_ids=exp["input_ids"]).logits.detach()
    diff = (logits - exp["logits"]).abs().max().item()
    print(f"transformers {transformers.__version__}: max-abs logit difference {diff:.3e}")
    sys.exit(0 if diff <= 1e-4 else 1)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
