"""The Python package over the C ABI: configs, plans, one-process training
with metrics read back, callbacks that abort or raise, cancel from a thread,
closed handles, and a 2-rank run through the launch functions."""
import os
import sys
import sqlite3
import threading
import time

import pytest

import loom

TOKENIZER = os.environ["LOOM_TEST_TOKENIZER"]
NOVEL = os.environ["LOOM_TEST_NOVEL"]

TINY = """
model: {family: qwen3, vocab_size: 151936, hidden_size: 16, intermediate_size: 32,
        num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 4}
data: {seq_len: 32, micro_batch_size: 2}
train: {lr: 3e-3, warmup_steps: 1, eval_every: 0, log_every: 1, seed: 3}
run: {name: py_test}
"""


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    work = tmp_path_factory.mktemp("data")
    text = work / "novel.txt"
    with open(NOVEL, "rb") as f:
        text.write_bytes(f.read(40000))
    report = loom.build_dataset(TOKENIZER, [str(text)], str(work / "novel"), format="text")
    assert report["docs"] > 0 and report["tokens"] > 1000
    return str(work / "novel")


def tiny(dataset, tmp_path, **overrides):
    values = {"data.train": dataset, "data.tokenizer": TOKENIZER, "run.dir": str(tmp_path / "runs"),
              "run.db": str(tmp_path / "runs.sqlite"), "train.steps": 4}
    values.update(overrides)
    return loom.Config.parse(TINY, values, source="tiny.yaml")


def test_version_and_registry():
    assert loom.version() == "0.2.0"
    reg = loom.registry()
    assert {"qwen3", "qwen3_moe", "loom_omni"} <= {f["model_type"] for f in reg["families"]}
    assert {"vision", "audio", "llm"} == {c["role"] for c in reg["components"]}
    lr = next(k for k in reg["config_schema"] if k["name"] == "train.lr")
    assert lr["type"] == "float" and lr["range"]["lo"] == 0 and "hi" not in lr["range"]


def test_config_errors_name_the_key_and_change_nothing(dataset, tmp_path):
    cfg = tiny(dataset, tmp_path)
    before = cfg.to_dict()
    with pytest.raises(loom.InvalidArgument, match="did you mean 'train.lr'"):
        cfg.update({"train.lr": 1e-4, "train.lrr": 1})
    assert cfg.to_dict() == before
    with pytest.raises(loom.InvalidArgument, match="'train.lr' expects a float"):
        cfg.update({"train.lr": "fast"})
    cfg.update({"train.lr": 1e-4, "model.tie_word_embeddings": False})
    assert cfg.to_dict()["train"]["lr"] == pytest.approx(1e-4)
    assert "lr: 0.0001" in cfg.to_yaml()
    with pytest.raises(loom.NotFound):
        loom.Config.load("/no/such.yaml")
    bad = loom.check_config("train: {steps: 0}\n")
    assert bad["valid"] is False and bad["errors"][0]["keys"] == ["train.steps"]
    assert loom.check_config("train: {steps: 3}\n")["config"]["train"]["steps"] == 3


def test_plan_valid_and_invalid(dataset, tmp_path):
    cfg = tiny(dataset, tmp_path)
    ok = cfg.plan(world=4, memory_budget="1GiB")
    assert ok["valid"] and ok["plan"]["world"] == 4 and ok["memory_budget"]["longest_seq_len"] > 0
    cfg.update({"parallel.sp": 3})
    bad = cfg.plan(world=3)
    assert bad["valid"] is False and any("parallel.sp" in e["keys"] for e in bad["errors"])


def test_train_one_process_and_read_metrics_back(dataset, tmp_path):
    cfg = tiny(dataset, tmp_path)
    events = []
    with loom.Trainer(cfg, on_event=lambda step, kind, msg: events.append(kind)) as trainer:
        seen = list(trainer.steps())
        state = trainer.state
        trainer.finish()
        assert trainer.state.status == "completed"
    assert [m.step for m in seen] == [0, 1, 2, 3] and state.step == 4
    assert seen[-1].loss < seen[0].loss
    assert "build" in events and "plan" in events
    with loom.RunStore(str(tmp_path / "runs.sqlite")) as store:
        run = store.runs()[0]
        assert run["status"] == "completed" and run["num_steps"] == 4
        rows = store.steps(run["id"])
        assert [r["loss"] for r in rows] == [m.loss for m in seen]  # bit for bit
        assert [r["step"] for r in store.steps(run["id"], after=1)] == [2, 3]
        later = store.events(run["id"], after=store.events(run["id"])[0]["id"])
        assert later and all(e["id"] > 0 for e in later)
        assert store.run(run["id"])["config"]["train"]["steps"] == 4


def test_a_callback_that_raises_cancels_and_reraises(dataset, tmp_path):
    cfg = tiny(dataset, tmp_path)

    def boom(m):
        if m.step == 1:  # the second step
            raise RuntimeError("boom at step 1")

    with loom.Trainer(cfg, on_step=boom) as trainer:
        with pytest.raises(RuntimeError, match="boom at step 1") as info:
            trainer.run()
        assert isinstance(info.value.__cause__, loom.Cancelled)
        assert trainer.state.status == "cancelled" and trainer.state.step == 2
    with loom.Trainer(cfg, on_step=lambda m: m.step >= 2) as trainer:  # returning True aborts
        with pytest.raises(loom.Cancelled, match="callback asked to abort"):
            trainer.run()
        assert trainer.state.step == 3


def test_cancel_from_another_thread(dataset, tmp_path):
    cfg = tiny(dataset, tmp_path, **{"train.steps": 10000})
    with loom.Trainer(cfg) as trainer:
        threading.Timer(1.0, trainer.cancel).start()
        with pytest.raises(loom.Cancelled, match="loom_trainer_cancel"):
            trainer.run()
        assert 0 < trainer.state.step < 10000 and trainer.state.status == "cancelled"


def test_closed_handles_are_refused(dataset, tmp_path):
    cfg = tiny(dataset, tmp_path)
    cfg.close()
    cfg.close()  # twice is harmless
    with pytest.raises(loom.InvalidArgument, match="closed"):
        cfg.to_dict()
    with pytest.raises(loom.NotFound):
        loom.RunStore(str(tmp_path / "none.sqlite"))


def write_config(dataset, tmp_path, steps):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return str(path), {"data.train": dataset, "data.tokenizer": TOKENIZER, "run.dir": str(tmp_path / "runs"),
                       "run.db": str(tmp_path / "runs.sqlite"), "train.steps": steps, "run.name": "py_launch"}


def test_two_ranks_through_launch(dataset, tmp_path):
    path, overrides = write_config(dataset, tmp_path, 4)
    log = tmp_path / "launch.log"
    with loom.launch(path, nproc=2, overrides=overrides, log_path=str(log)) as job:
        assert job.wait(timeout=240) == 0, log.read_text()
        assert job.poll() == {"running": False, "exit_code": 0, "restarts": 0}
    assert "[rank 0]" in log.read_text()
    with loom.RunStore(str(tmp_path / "runs.sqlite")) as store:
        run = store.run("py_launch")
        assert run["status"] == "completed" and run["world_size"] == 2 and run["num_steps"] == 4
    # The same 4 steps in one process (the same global batch: 2 ranks x 2 rows = 4 rows):
    # the 2-rank FSDP losses agree within 1e-5 relative (a changed reduction order).
    with loom.Trainer(tiny(dataset, tmp_path / "one", **{"train.steps": 4, "data.micro_batch_size": 4})) as one:
        single = [m.loss for m in one.steps()]
    with loom.RunStore(str(tmp_path / "runs.sqlite")) as store:
        two = [r["loss"] for r in store.steps(store.run("py_launch")["id"])]
    assert len(two) == 4 and all(abs(a - b) <= 1e-5 * abs(a) for a, b in zip(single, two)), (single, two)


def test_stop_a_launched_run(dataset, tmp_path):
    path, overrides = write_config(dataset, tmp_path, 100000)
    log = tmp_path / "launch.log"
    with loom.launch(path, nproc=2, overrides=overrides, log_path=str(log)) as job:
        db = tmp_path / "runs.sqlite"
        deadline = time.time() + 120
        while time.time() < deadline:  # until the first step is in the store
            if db.exists():
                try:
                    with sqlite3.connect(str(db)) as c:
                        if c.execute("SELECT COUNT(*) FROM steps").fetchone()[0] > 0:
                            break
                except sqlite3.OperationalError:  # the trainer is still creating the tables
                    pass
            time.sleep(0.2)
        with pytest.raises(loom.Timeout):
            job.wait(timeout=0.1)
        job.stop()
        code = job.wait(timeout=60)
    assert code == 143, log.read_text()
    with loom.RunStore(str(tmp_path / "runs.sqlite")) as store:
        assert store.run("py_launch")["status"] == "cancelled"
    with pytest.raises(loom.InvalidArgument, match="nproc"):
        loom.launch(path, nproc=0)


def test_the_python_sample_trains(tmp_path):
    import subprocess
    text = tmp_path / "novel.txt"
    with open(NOVEL, "rb") as f:
        text.write_bytes(f.read(40000))
    sample = os.path.join(os.environ["LOOM_TEST_SOURCE"], "samples", "python", "train.py")
    out = subprocess.run([sys.executable, sample, TOKENIZER, str(text), str(tmp_path), "4"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.rstrip().endswith("ok"), out.stdout + out.stderr


def test_evaluate_checkpoint_export_and_resume(dataset, tmp_path):
    cfg = tiny(dataset, tmp_path, **{"data.eval": dataset, "train.eval_batches": 2})
    with loom.Trainer(cfg) as trainer:
        assert trainer.step() and trainer.step()
        loss = trainer.evaluate()
        assert 0 < loss < 20
        ckpt = trainer.save_checkpoint()
        assert os.path.isfile(os.path.join(ckpt, "meta.json"))
        straight = [m.loss for m in trainer.steps()]
        model = trainer.export()
        assert os.path.isfile(os.path.join(model, "config.json"))
        trainer.finish()
    # A resume from the checkpoint continues the same run and repeats its last two losses bit for bit.
    with loom.Trainer(tiny(dataset, tmp_path, **{"data.eval": dataset, "train.resume": ckpt})) as resumed:
        again = [m.loss for m in resumed.steps()]
        assert again == straight and resumed.state.step == 4


def test_preview_batches_fixed_and_dynamic(dataset, tmp_path):
    fixed = loom.preview_batches(tiny(dataset, tmp_path), 3)
    assert fixed["kind"] == "text" and not fixed["dynamic"] and len(fixed["batches"]) == 3
    assert all(b["rows"] == 2 and b["seq_len"] == 32 and b["tokens"] == 64 for b in fixed["batches"])
    dynamic = loom.preview_batches(tiny(dataset, tmp_path, **{"data.max_tokens_per_micro_batch": 48}), 2)
    assert dynamic["dynamic"] and dynamic["budget"] == 48
    assert all(b["rows"] == 1 and b["positions"] == 48 for b in dynamic["batches"])
    with pytest.raises(loom.InvalidArgument):
        loom.preview_batches(tiny(dataset, tmp_path), 0)
