#!/usr/bin/env python3
"""The train-step peer benchmark: Loom's TrainStep (train_step_bench, C++)
against a plain PyTorch eager loop on the same transformers model and batch.

  train_step_bench.py make DIR SHAPE   writes DIR/model (HF format) + DIR/batch.safetensors
  train_step_bench.py run DIR STEPS    the PyTorch side: "pytorch_ms_per_step X"
  train_step_bench.py fsdp LOOM LOOM_BENCH FSDP_SCRIPT RUNS STEPS [SHAPE...]
      Loom FSDP on 4 ranks (loom launch) vs PyTorch FSDP2 (torchrun, gloo,
      fsdp_speed_bench.py) on 4 ranks, same model and global batch, RUNS
      interleaved runs per shape (default shapes: overhead, current), with
      targets loom / fsdp2 <= 0.8 (overhead) and <= 1.0 (current).
  train_step_bench.py bench LOOM_BENCH RUNS STEPS [SHAPE...]
      for each shape: RUNS interleaved runs (PyTorch, Loom, PyTorch, Loom, ...),
      each a fresh process timing STEPS steps after one warm-up; prints the
      medians with min / max, the ratio, the achieved GFLOP/s of each side next
      to this machine's measured fp32 matmul rate, and the target per shape.

The PyTorch side is what a sceptic would write: the model in train mode with
use_cache off, SDPA attention, AdamW with foreach (fused where this torch
offers it on CPU), gradient clipping, the same thread count as Loom (all
cores). FLOPs per step = 6 x (non-embedding parameters + the LM head) x
tokens + causal attention 6 x layers x rows x seq^2 x heads x head_dim
(score and value matmuls, forward + backward, half masked).
"""
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import transformers
from safetensors.torch import load_file, save_file

# name: (config, rows, seq, target loom/pytorch)
SHAPES = {
    "overhead": (dict(vocab_size=1024, hidden_size=64, intermediate_size=192, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, head_dim=16), 2, 64, 0.7),
    "current": (dict(vocab_size=8192, hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=4,
                     num_key_value_heads=2, head_dim=64), 4, 256, 1.0),
    "compute": (dict(vocab_size=8192, hidden_size=1024, intermediate_size=2816, num_hidden_layers=4, num_attention_heads=8,
                     num_key_value_heads=4, head_dim=128), 2, 1024, 1.0),
    "moe": (dict(model_type="qwen3_moe", vocab_size=2048, hidden_size=128, intermediate_size=384, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, head_dim=32, num_experts=8, num_experts_per_tok=2,
                 moe_intermediate_size=128, norm_topk_prob=True, output_router_logits=False, router_aux_loss_coef=0.0),
            4, 128, 0.7),
}


def make(out, shape):
    torch.manual_seed(0)
    fields, rows, seq, _ = SHAPES[shape]
    fields = dict(fields)
    moe = fields.pop("model_type", "qwen3") == "qwen3_moe"
    common = dict(max_position_embeddings=max(1024, seq), tie_word_embeddings=True, bos_token_id=None, eos_token_id=None)
    if moe:
        model = transformers.Qwen3MoeForCausalLM(transformers.Qwen3MoeConfig(**fields, **common))
    else:
        model = transformers.Qwen3ForCausalLM(transformers.Qwen3Config(**fields, **common))
    model.save_pretrained(f"{out}/model", safe_serialization=True)
    save_file({"input_ids": torch.randint(0, fields["vocab_size"], (rows, seq))}, f"{out}/batch.safetensors")


def adamw(model):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": rest, "weight_decay": 0.0}]
    try:
        return torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, fused=True), "fused"
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(groups, lr=1e-4, betas=(0.9, 0.95), eps=1e-8, foreach=True), "foreach"


def run(out, steps):
    model = transformers.AutoModelForCausalLM.from_pretrained(f"{out}/model", torch_dtype=torch.float32,
                                                              attn_implementation="sdpa")
    model.train()
    model.config.use_cache = False
    ids = load_file(f"{out}/batch.safetensors")["input_ids"]
    labels = torch.full_like(ids, -100)
    labels[:, :-1] = ids[:, 1:]
    opt, kind = adamw(model)

    def step():
        opt.zero_grad(set_to_none=True)
        logits = model(input_ids=ids, use_cache=False).logits
        loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    print(f"pytorch_ms_per_step {1000 * (time.perf_counter() - t0) / steps:.3f} adamw {kind} threads {torch.get_num_threads()}")


def flops_per_step(out):
    cfg = json.load(open(f"{out}/model/config.json"))
    ids = load_file(f"{out}/batch.safetensors")["input_ids"]
    rows, seq = ids.shape
    state = load_file(f"{out}/model/model.safetensors")
    params = sum(t.numel() for n, t in state.items() if "embed_tokens" not in n and "lm_head" not in n)
    if cfg.get("model_type") == "qwen3_moe":  # only top-k of the experts run per token
        expert = sum(t.numel() for n, t in state.items() if ".experts." in n)
        params -= expert * (1 - cfg["num_experts_per_tok"] / cfg["num_experts"])
    params += cfg["vocab_size"] * cfg["hidden_size"]  # the head's matmul
    tokens = rows * seq
    attention = 6 * cfg["num_hidden_layers"] * rows * seq * seq * cfg["num_attention_heads"] * cfg["head_dim"]
    return 6 * params * tokens + attention


def matmul_gflops():
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        best = min(best, (time.perf_counter() - t0) / 10)
    return 2 * 1024 ** 3 / best / 1e9


def ms_of(cmd, key):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith(key))
    return float(line.split()[1]), line


def bench(loom_bench, runs, steps, shapes):
    import tempfile
    rate = matmul_gflops()
    print(f"machine: fp32 matmul 1024^3 {rate:.1f} GFLOP/s, torch {torch.__version__}, {torch.get_num_threads()} threads")
    met_all = True
    for shape in shapes:
        with tempfile.TemporaryDirectory() as out:
            make(out, shape)
            _, rows, seq, target = SHAPES[shape]
            py, lm, note = [], [], ""
            for _ in range(runs):  # A B A B ...
                ms, note = ms_of([sys.executable, __file__, "run", out, str(steps)], "pytorch_ms_per_step")
                py.append(ms)
                lm.append(ms_of([loom_bench, out, str(steps)], "loom_ms_per_step")[0])
            flops = flops_per_step(out)
            mp, ml = statistics.median(py), statistics.median(lm)
            ratio = ml / mp
            met = ratio <= target
            met_all &= met
            print(f"{shape}: {rows} x {seq} tokens, {flops / 1e9:.2f} GFLOP per step ({note.split(' ', 2)[2]})")
            print(f"  pytorch eager {mp:9.2f} ms (min {min(py):.2f}, max {max(py):.2f}), {flops / mp / 1e6:6.1f} GFLOP/s")
            print(f"  loom          {ml:9.2f} ms (min {min(lm):.2f}, max {max(lm):.2f}), {flops / ml / 1e6:6.1f} GFLOP/s"
                  f"  (matmul limit {rate:.0f})")
            print(f"  loom / pytorch {ratio:.3f}; target <= {target}: {'met' if met else 'NOT met'}")
    return met_all


FSDP_TARGETS = {"overhead": 0.8, "current": 1.0}


def fsdp_bench(loom, loom_bench, script, runs, steps, shapes):
    import socket
    import tempfile
    env = dict(os.environ, OMP_NUM_THREADS="1")
    met_all = True
    for shape in shapes:
        with tempfile.TemporaryDirectory() as out:
            make(out, shape)
            _, rows, seq, _ = SHAPES[shape]
            rows = max(rows, 4)
            if rows != SHAPES[shape][1]:  # one row per rank at least
                save_file({"input_ids": torch.randint(0, SHAPES[shape][0]["vocab_size"], (rows, seq))}, f"{out}/batch.safetensors")
            py, lm = [], []
            for _ in range(runs):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
                s.close()
                cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "4", "--master_addr", "127.0.0.1",
                       "--master_port", str(port), script, out, str(steps)]
                res = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
                py.append(float(next(l for l in res.splitlines() if "pytorch_fsdp_ms_per_step" in l).split()[-1]))
                res = subprocess.run([loom, "launch", "--nproc", "4", "--", loom_bench, out, str(steps)], check=True,
                                     capture_output=True, text=True, env=env).stdout
                lm.append(float(next(l for l in res.splitlines() if "loom_fsdp_ms_per_step" in l).split()[-1]))
            mp, ml = statistics.median(py), statistics.median(lm)
            target = FSDP_TARGETS.get(shape, 1.0)
            met = ml / mp <= target
            met_all &= met
            print(f"fsdp 4 ranks, {shape}: {rows} x {seq} tokens per step (1 thread per rank, gloo)")
            print(f"  pytorch fsdp2 {mp:9.2f} ms (min {min(py):.2f}, max {max(py):.2f})")
            print(f"  loom fsdp     {ml:9.2f} ms (min {min(lm):.2f}, max {max(lm):.2f})")
            print(f"  loom / fsdp2 {ml / mp:.3f}; target <= {target}: {'met' if met else 'NOT met'}")
    return met_all


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "current")
    elif sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "fsdp":
        shapes = sys.argv[7:] or ["overhead", "current"]
        sys.exit(0 if fsdp_bench(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), shapes) else 1)
    elif sys.argv[1] == "bench":
        shapes = sys.argv[5:] or list(SHAPES)
        sys.exit(0 if bench(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), shapes) else 1)
    else:
        raise SystemExit(__doc__)
