#!/usr/bin/env python3
"""PyTorch eager's side of scripts/gpu_check.sh's step benchmark: the same
Qwen3-shaped model, batch and step as tests/bench/gpu_step_bench.cc, in plain
torch (no transformers: the GPU machine has none): RMSNorm, q/k norms, RoPE,
GQA through SDPA's causal path (flash attention on CUDA in bf16), SwiGLU,
tied head; bf16 autocast, cross-entropy on the full logits, gradient
clipping, AdamW(fused=True) on CUDA (foreach on the CPU). The model is in
train mode and nothing is cached.

  qwen3_eager_step.py [--device cuda|cpu] [--hidden C] ... (gpu_step_bench's options)
prints  eager_step_ms <median> min <min> max <max> tokens_per_s <x> tflops <y> mfu <z>
with the same FLOP formula (6 N + 6 L H D T per token).
"""
import argparse
import time

import torch
import torch.nn.functional as F


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.weight, self.eps = torch.nn.Parameter(torch.ones(dim)), eps

    def forward(self, x):
        h = x.float()
        return (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype) * self.weight


def rope(x, cos, sin):  # x (B, H, T, D); rotate halves
    a, b = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-b, a), dim=-1) * sin


class Layer(torch.nn.Module):
    def __init__(self, c, h, k, d, f):
        super().__init__()
        self.h, self.k, self.d = h, k, d
        self.input_layernorm, self.post_attention_layernorm = RMSNorm(c), RMSNorm(c)
        self.q_proj, self.k_proj = torch.nn.Linear(c, h * d, bias=False), torch.nn.Linear(c, k * d, bias=False)
        self.v_proj, self.o_proj = torch.nn.Linear(c, k * d, bias=False), torch.nn.Linear(h * d, c, bias=False)
        self.q_norm, self.k_norm = RMSNorm(d), RMSNorm(d)
        self.gate_proj, self.up_proj = torch.nn.Linear(c, f, bias=False), torch.nn.Linear(c, f, bias=False)
        self.down_proj = torch.nn.Linear(f, c, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        y = self.input_layernorm(x)
        q = self.q_norm(self.q_proj(y).view(b, t, self.h, self.d)).transpose(1, 2)
        k = self.k_norm(self.k_proj(y).view(b, t, self.k, self.d)).transpose(1, 2)
        v = self.v_proj(y).view(b, t, self.k, self.d).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, t, self.h * self.d))
        y = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(y)) * self.up_proj(y))


class Qwen3(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(a.vocab, a.hidden)
        self.layers = torch.nn.ModuleList(Layer(a.hidden, a.heads, a.kv_heads, a.head_dim, a.intermediate)
                                          for _ in range(a.layers))
        self.norm, self.head_dim = RMSNorm(a.hidden), a.head_dim

    def forward(self, ids):
        t = ids.shape[1]
        inv = 1.0 / (1e6 ** (torch.arange(0, self.head_dim, 2, device=ids.device).float() / self.head_dim))
        freqs = torch.outer(torch.arange(t, device=ids.device).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos.to(x.dtype), sin.to(x.dtype))
        return self.norm(x) @ self.embed_tokens.weight.t()  # tied head


def main():
    p = argparse.ArgumentParser()
    for k, v in dict(hidden=2048, layers=16, heads=16, kv_heads=8, head_dim=128, intermediate=6144, vocab=151936,
                     seq=8192, rows=1, steps=8, warmup=3, peak_tflops=989.0).items():
        p.add_argument("--" + k.replace("_", "-"), type=type(v), default=v)
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bf16")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    model = Qwen3(a).to(dev).train()
    with torch.no_grad():
        for prm in model.parameters():
            prm.normal_(0, 0.02) if prm.dim() >= 2 else prm.fill_(1.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.type == "cuda", foreach=dev.type != "cuda")
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, a.vocab, (a.rows, a.seq), generator=g).to(dev)
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    ms = []
    for i in range(a.warmup + a.steps):
        sync()
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.dtype == "bf16"):
            logits = model(ids)
        loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss.item()
        sync()
        if i >= a.warmup:
            ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    med = ms[len(ms) // 2]
    n = a.layers * (a.hidden * a.heads * a.head_dim * 2 + a.hidden * a.kv_heads * a.head_dim * 2 + 3 * a.hidden * a.intermediate) \
        + a.vocab * a.hidden
    flops_per_token = 6 * n + 6 * a.layers * a.heads * a.head_dim * a.seq
    tokens_per_s = a.rows * a.seq / (med / 1e3)
    tflops = flops_per_token * tokens_per_s / 1e12
    print(f"eager_step_ms {med:.2f} min {ms[0]:.2f} max {ms[-1]:.2f} tokens_per_s {tokens_per_s:.1f} tflops {tflops:.2f} "
          f"mfu {tflops / a.peak_tflops:.4f}")


if __name__ == "__main__":
    main()
