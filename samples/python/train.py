"""Train the small demo model from Python through Loom's C ABI, then read its
metrics back from the run store.

    pip install ./capi/python
    LOOM_LIBRARY=build/capi/libloom.so python samples/python/train.py TOKENIZER_JSON TEXT_FILE WORK_DIR [STEPS]
"""
import sys

import loom

TINY = """
model: {family: qwen3, vocab_size: 151936, hidden_size: 32, intermediate_size: 64,
        num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8}
data: {seq_len: 64, micro_batch_size: 2}
train: {lr: 3e-3, warmup_steps: 2, eval_every: 0, log_every: 1, seed: 7}
run: {name: python_sample}
"""


def main(tokenizer: str, text: str, work: str, steps: int = 8) -> int:
    print("libloom", loom.version())
    report = loom.build_dataset(tokenizer, [text], f"{work}/data", format="text")
    print(f"dataset: {report['docs']} documents, {report['tokens']} tokens")
    config = loom.Config.parse(TINY, {"data.train": f"{work}/data", "data.tokenizer": tokenizer,
                                      "run.dir": f"{work}/runs", "run.db": f"{work}/runs.sqlite",
                                      "train.steps": steps})
    plan = config.plan(world=1)
    assert plan["valid"], plan
    with loom.Trainer(config) as trainer:
        losses = []
        for m in trainer.steps():
            losses.append(m.loss)
            print(f"step {m.step + 1}/{m.total_steps}  loss {m.loss:.4f}  lr {m.lr:.2e}  {m.tokens_per_s:.0f} tokens/s")
        trainer.finish()
        run_id = trainer.state.run_id
    with loom.RunStore(f"{work}/runs.sqlite") as store:
        stored = [row["loss"] for row in store.steps(run_id)]
        status = store.run(run_id)["status"]
    print(f"run {run_id}: {status}; the store holds {len(stored)} steps; loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    ok = status == "completed" and stored == losses and losses[-1] < losses[0]
    print("ok" if ok else "FAILED: expected a completed run, every step in the store, a falling loss")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 8))
