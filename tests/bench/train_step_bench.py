#!/usr/bin/env python3
"""The PyTorch side of the train-step benchmark.

  train_step_bench.py make DIR      writes a qwen3 model (HF format) + batch
  train_step_bench.py run DIR STEPS trains it with a plain PyTorch loop
                                    (transformers model, AdamW, clipping) and
                                    prints "pytorch_ms_per_step X"
"""
import sys
import time

import torch
import transformers
from safetensors.torch import load_file, save_file

ROWS, SEQ = 4, 256


def make(out):
    torch.manual_seed(0)
    cfg = transformers.Qwen3Config(vocab_size=8192, hidden_size=256, intermediate_size=768,
                                   num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                                   head_dim=64, max_position_embeddings=1024, tie_word_embeddings=True,
                                   bos_token_id=None, eos_token_id=None)
    transformers.Qwen3ForCausalLM(cfg).save_pretrained(f"{out}/model", safe_serialization=True)
    ids = torch.randint(0, 8192, (ROWS, SEQ))
    save_file({"input_ids": ids}, f"{out}/batch.safetensors")


def run(out, steps):
    model = transformers.AutoModelForCausalLM.from_pretrained(f"{out}/model", torch_dtype=torch.float32,
                                                              attn_implementation="sdpa")
    ids = load_file(f"{out}/batch.safetensors")["input_ids"]
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.95), eps=1e-8)

    def step():
        opt.zero_grad()
        logits = model(input_ids=ids).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    print(f"pytorch_ms_per_step {1000 * (time.perf_counter() - t0) / steps:.2f}")


if __name__ == "__main__":
    make(sys.argv[2]) if sys.argv[1] == "make" else run(sys.argv[2], int(sys.argv[3]))
