#!/usr/bin/env python3
"""PyTorch FSDP2 side of the FSDP speed benchmark (run under torchrun, gloo).

  fsdp_speed_bench.py DIR STEPS   DIR from train_step_bench.py make; prints
                                  "pytorch_fsdp_ms_per_step X" on rank 0
Each rank trains rows rank::world of the same batch with fully_shard on
every decoder layer and the root, the model in train mode without a KV
cache, AdamW (fused where this torch offers it on CPU, else foreach),
clipping.
"""
import os
import sys
import time

import torch
import torch.distributed as dist
import transformers
from safetensors.torch import load_file
from torch.distributed.fsdp import fully_shard


def main(out, steps):
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    model = transformers.AutoModelForCausalLM.from_pretrained(f"{out}/model", torch_dtype=torch.float32,
                                                              attn_implementation="sdpa")
    model.train()
    model.config.use_cache = False
    for layer in model.model.layers:
        fully_shard(layer)
    fully_shard(model)
    ids = load_file(f"{out}/batch.safetensors")["input_ids"][rank::world]
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, fused=True)
    except (RuntimeError, ValueError):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1, foreach=True)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=ids, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1),
                                                 reduction="sum") / (labels != -100).sum() / world
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    step()
    dist.barrier()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dist.barrier()
    if rank == 0:
        print(f"pytorch_fsdp_ms_per_step {1000 * (time.perf_counter() - t0) / steps:.2f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
