"""Pieces the multimodal oracles (vision_oracle.py, audio_oracle.py) share.
Tests hash this file with each oracle script (tests/testing/oracle.cc), so
editing it regenerates their references.

The training convention matches testing::OracleAdamWLosses: AdamW (lr 1e-3,
betas 0.9 / 0.95, eps 1e-8, weight decay 0.1 on parameters with dim >= 2),
gradients clipped to norm 1.0, 10 steps.
"""
import sys

import torch

LR, BETAS, EPS, WD, CLIP, STEPS = 1e-3, (0.9, 0.95), 1e-8, 0.1, 1.0, 10


def adamw_losses(params, loss_fn, steps=STEPS):
    """The loss of each step (before its update), as float64 tensor."""
    params = list(params)
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": WD},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=LR, betas=BETAS, eps=EPS)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        losses.append(loss.item())
    return torch.tensor(losses, dtype=torch.float64)


def shifted_labels(ids, mask):
    """labels[t] = ids[t + 1] where both are real tokens, else -100."""
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    labels[:, :-1][mask[:, 1:] == 0] = -100
    labels[mask == 0] = -100
    return labels


def mean_token_loss(logits, labels):
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                           ignore_index=-100, reduction="sum")
    return ce / (labels != -100).sum()


def exit_on_logit_diff(logits, expected, attention_mask):
    """Prints the max-abs difference on real tokens; exit 1 above 1e-4."""
    import transformers
    diff = (logits - expected)[attention_mask.bool()].abs().max().item()
    print(f"transformers {transformers.__version__}: max-abs logit difference {diff:.3e}")
    sys.exit(0 if diff <= 1e-4 else 1)
