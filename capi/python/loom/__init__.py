"""Loom from Python: a Pythonic surface over the C ABI (loom.h, libloom.so).

    import loom
    cfg = loom.Config.load("samples/configs/tiny_qwen3.yaml", {"train.steps": 5})
    print(cfg.plan(world=4)["memory_per_rank"])
    with loom.Trainer(cfg) as trainer:
        for m in trainer.steps():          # one StepMetrics per optimizer step
            print(m.step, m.loss)
    with loom.RunStore("runs/loom.sqlite") as store:
        print(store.runs()[0]["status"])

Every failing call raises a LoomError subclass named after its status code,
with the library's message (which names the problem and the fix). Handles are
released by context managers (or close()); a closed object refuses calls.
"""
from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from . import _ffi
from ._ffi import lib

__all__ = ["LoomError", "InvalidArgument", "NotFound", "Unsupported", "OutOfMemory", "DistributedError",
           "Cancelled", "Timeout", "DataError", "InternalError", "version", "registry", "check_config", "Config",
           "StepMetrics", "TrainerState", "Trainer", "build_dataset", "preview_batches", "RunStore", "Launch",
           "launch"]


# --- errors -------------------------------------------------------------------

class LoomError(Exception):
    """A loom_* call failed: `status` is its code, the message the library's."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class InvalidArgument(LoomError, ValueError): ...
class NotFound(LoomError): ...
class Unsupported(LoomError): ...
class OutOfMemory(LoomError, MemoryError): ...
class DistributedError(LoomError): ...
class Cancelled(LoomError): ...
class Timeout(LoomError): ...
class DataError(LoomError): ...
class InternalError(LoomError): ...


_ERRORS = {-1: InvalidArgument, -2: NotFound, -3: Unsupported, -4: OutOfMemory, -5: DistributedError,
           -6: Cancelled, -7: Timeout, -8: DataError}


def _check(status: int) -> None:
    if status != 0:
        message = (lib.loom_last_error_message() or b"").decode("utf-8", "replace")
        raise _ERRORS.get(status, InternalError)(status, message)


def _take_string(ptr: ctypes.c_void_p) -> str:
    """A char* the library returned, copied and released with loom_free."""
    try:
        return ctypes.string_at(ptr.value).decode("utf-8")
    finally:
        lib.loom_free(ptr)


def _call_string(fn, *args) -> str:
    out = ctypes.c_void_p()
    _check(fn(*args, ctypes.byref(out)))
    return _take_string(out)


def _call_json(fn, *args) -> Any:
    return json.loads(_call_string(fn, *args))


def _bytes(s: Optional[str]) -> Optional[bytes]:
    return None if s is None else str(s).encode("utf-8")


def _string_array(items: Sequence[str]):
    arr = (ctypes.c_char_p * max(1, len(items)))(*[_bytes(s) for s in items])
    return arr, len(items)


def _override_tokens(overrides: Optional[Mapping[str, Any]]) -> List[str]:
    """{"train.lr": 3e-4, "model.tie_word_embeddings": False, "model.mlp_only_layers": [0]} -> --key=value."""
    tokens = []
    for key, value in (overrides or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        tokens.append(f"--{key}={value}")
    return tokens


_check(lib.loom_check_abi(_ffi.ABI_VERSION, ctypes.sizeof(_ffi.TrainerOptions), ctypes.sizeof(_ffi.StepMetrics),
                          ctypes.sizeof(_ffi.PlanOptions), ctypes.sizeof(_ffi.DatasetOptions),
                          ctypes.sizeof(_ffi.LaunchOptions), ctypes.sizeof(_ffi.LaunchState),
                          ctypes.sizeof(_ffi.TrainerState)))


def version() -> str:
    """The library's version, "MAJOR.MINOR.PATCH"."""
    return lib.loom_version().decode()


def registry() -> Dict[str, Any]:
    """Model families, composable components and the config schema (loom_registry_json)."""
    return _call_json(lib.loom_registry_json)


def check_config(yaml: str = "", overrides: Optional[Mapping[str, Any]] = None, source: str = "<string>") -> Dict[str, Any]:
    """{"valid": True, "config": {...}} or {"valid": False, "errors": [{"message", "keys"}]}; never raises for a bad config."""
    arr, n = _string_array(_override_tokens(overrides))
    return _call_json(lambda out: lib.loom_config_check(out, _bytes(yaml), _bytes(source), arr, n))


class _Handle:
    """An owned C handle: closed once, by close() or the context manager."""

    _destroy: Callable[[Any], None]

    def __init__(self, handle: ctypes.c_void_p):
        self._h: Optional[ctypes.c_void_p] = handle

    def close(self) -> None:
        if self._h is not None:
            type(self)._destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def handle(self) -> ctypes.c_void_p:
        if self._h is None:
            raise InvalidArgument(-1, f"this {type(self).__name__} is closed; make a new one")
        return self._h


# --- configs and plans ----------------------------------------------------------

class Config(_Handle):
    """A resolved, validated config (docs/config.md lists every key)."""

    _destroy = staticmethod(lib.loom_config_destroy)

    @classmethod
    def load(cls, path: Optional[str] = None, overrides: Optional[Mapping[str, Any]] = None) -> "Config":
        """A YAML file (None: the defaults) with dotted overrides applied in order."""
        arr, n = _string_array(_override_tokens(overrides))
        h = ctypes.c_void_p()
        _check(lib.loom_config_load(ctypes.byref(h), _bytes(path), arr, n))
        return cls(h)

    @classmethod
    def parse(cls, yaml: str, overrides: Optional[Mapping[str, Any]] = None, source: str = "<string>") -> "Config":
        arr, n = _string_array(_override_tokens(overrides))
        h = ctypes.c_void_p()
        _check(lib.loom_config_parse(ctypes.byref(h), _bytes(yaml), _bytes(source), arr, n))
        return cls(h)

    def update(self, values: Mapping[str, Any]) -> "Config":
        """Sets dotted keys, all or nothing; returns self."""
        _check(lib.loom_config_update(self.handle, _bytes(json.dumps(dict(values)))))
        return self

    def to_dict(self) -> Dict[str, Any]:
        return _call_json(lib.loom_config_to_json, self.handle)

    def to_yaml(self) -> str:
        return _call_string(lib.loom_config_to_yaml, self.handle)

    def plan(self, world: int = 1, memory_budget: Optional[str] = None, media_fraction: float = 0.25) -> Dict[str, Any]:
        """The plan `loom train` would run on `world` ranks and its per-rank memory estimate;
        {"valid": False, "errors": [...]} for an invalid plan (not an exception)."""
        o = _ffi.PlanOptions(ctypes.sizeof(_ffi.PlanOptions), world, _bytes(memory_budget), media_fraction)
        return _call_json(lib.loom_plan_check, self.handle, ctypes.byref(o))


# --- training --------------------------------------------------------------------

@dataclass
class StepMetrics:
    step: int
    total_steps: int
    loss: float
    lr: float
    grad_norm: float
    tokens_per_s: float
    step_time_s: float
    peak_mem_bytes: int
    extra: Dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainerState:
    step: int
    total_steps: int
    run_id: int
    last_loss: float
    status: str  # running | completed | failed | cancelled


_STATUS = {0: "running", 1: "completed", 2: "failed", 3: "cancelled"}


class Trainer(_Handle):
    """One training run. Callbacks run on the thread that steps (rank 0 only);
    a callback that returns True, or raises, cancels the run at that step's
    boundary: step()/run() then raise Cancelled, or re-raise the callback's
    exception. cancel() may be called from any thread."""

    _destroy = staticmethod(lib.loom_trainer_destroy)

    def __init__(self, config: Config, on_step: Optional[Callable[[StepMetrics], Any]] = None,
                 on_event: Optional[Callable[[int, str, str], Any]] = None,
                 on_log: Optional[Callable[[str], None]] = None, join_world: bool = False):
        self._user_on_step, self._user_on_event, self._user_on_log = on_step, on_event, on_log
        self._pending: List[StepMetrics] = []  # what steps() yields
        self._error: Optional[BaseException] = None  # a callback's exception, re-raised after the call
        # The C function pointers must outlive the trainer: kept on self.
        self._step_fn = _ffi.STEP_FN(self._on_step)
        self._event_fn = _ffi.EVENT_FN(self._on_event)
        self._log_fn = _ffi.LOG_FN(self._on_log)
        o = _ffi.TrainerOptions(ctypes.sizeof(_ffi.TrainerOptions), self._step_fn, None, self._event_fn, None,
                                self._log_fn, None, 1 if join_world else 0)
        h = ctypes.c_void_p()
        self._h = None
        self._call(lib.loom_trainer_create(ctypes.byref(h), config.handle, ctypes.byref(o)))
        super().__init__(h)

    # Callbacks: never let an exception escape into C.
    def _guard(self, fn: Callable[[], Any]) -> int:
        try:
            return 1 if fn() else 0
        except BaseException as e:  # noqa: BLE001 - re-raised on the calling thread
            if self._error is None:
                self._error = e
            return 1

    def _on_step(self, m, _user) -> int:
        c = m.contents
        metrics = StepMetrics(c.step, c.total_steps, c.loss, c.lr, c.grad_norm, c.tokens_per_s, c.step_time_s,
                              c.peak_mem_bytes, json.loads(c.extra_json.decode()) if c.extra_json else {})
        self._pending.append(metrics)
        return self._guard(lambda: self._user_on_step(metrics) if self._user_on_step else None)

    def _on_event(self, step, kind, message, _user) -> int:
        return self._guard(lambda: self._user_on_event(step, kind.decode(), message.decode()) if self._user_on_event else None)

    def _on_log(self, line, _user) -> None:
        self._guard(lambda: self._user_on_log(line.decode()) if self._user_on_log else None)

    def _call(self, status: int) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            try:
                _check(status)
            except LoomError as loom_error:
                raise error from loom_error
            raise error
        _check(status)

    def step(self) -> bool:
        """One optimizer step; False once none is left."""
        more = ctypes.c_int32(0)
        try:
            self._call(lib.loom_trainer_step(self.handle, ctypes.byref(more)))
        finally:
            self._pending.clear()  # steps() yields only the steps it takes
        return bool(more.value)

    def steps(self) -> Iterator[StepMetrics]:
        """Steps until done, yielding each step's metrics (rank 0; other ranks yield nothing)."""
        while True:
            more = ctypes.c_int32(0)
            self._call(lib.loom_trainer_step(self.handle, ctypes.byref(more)))
            while self._pending:
                yield self._pending.pop(0)
            if not more.value:
                return

    def run(self) -> TrainerState:
        """Steps until done and marks the run completed."""
        self._call(lib.loom_trainer_run(self.handle))
        self._pending.clear()
        return self.state

    def cancel(self) -> None:
        _check(lib.loom_trainer_cancel(self.handle))

    def evaluate(self) -> float:
        loss = ctypes.c_double()
        self._call(lib.loom_trainer_evaluate(self.handle, ctypes.byref(loss)))
        return loss.value

    def save_checkpoint(self) -> str:
        out = ctypes.c_void_p()
        self._call(lib.loom_trainer_save_checkpoint(self.handle, ctypes.byref(out)))
        return _take_string(out)

    def export(self) -> str:
        out = ctypes.c_void_p()
        self._call(lib.loom_trainer_export(self.handle, ctypes.byref(out)))
        return _take_string(out)

    def finish(self) -> None:
        self._call(lib.loom_trainer_finish(self.handle))

    @property
    def state(self) -> TrainerState:
        s = _ffi.TrainerState(ctypes.sizeof(_ffi.TrainerState))
        _check(lib.loom_trainer_get_state(self.handle, ctypes.byref(s)))
        return TrainerState(s.step, s.total_steps, s.run_id, s.last_loss, _STATUS.get(s.status, "running"))


# --- data --------------------------------------------------------------------------

def build_dataset(tokenizer: str, inputs: Sequence[str], output: str, format: str = "auto",
                  eval_fraction: float = 0.0) -> Dict[str, Any]:
    """Tokenizes `inputs` into the dataset prefix `output` (as `loom data build`)."""
    arr, n = _string_array(list(inputs))
    o = _ffi.DatasetOptions(ctypes.sizeof(_ffi.DatasetOptions), _bytes(tokenizer), arr, n, _bytes(output),
                            _bytes(format), eval_fraction)
    return _call_json(lib.loom_dataset_build, ctypes.byref(o))


def preview_batches(config: Config, n_batches: int = 4) -> Dict[str, Any]:
    """How data.train packs into the trainer's micro-batches (fixed rows or dynamic batching)."""
    return _call_json(lib.loom_dataset_preview, config.handle, n_batches)


# --- the run store -------------------------------------------------------------------

class RunStore(_Handle):
    """A read-only view of a run store; sees a live run's rows as they commit."""

    _destroy = staticmethod(lib.loom_store_destroy)

    def __init__(self, path: str):
        h = ctypes.c_void_p()
        _check(lib.loom_store_open(ctypes.byref(h), _bytes(path)))
        super().__init__(h)

    def runs(self) -> List[Dict[str, Any]]:
        return _call_json(lib.loom_store_list_runs, self.handle)

    def run(self, id_or_name) -> Dict[str, Any]:
        return _call_json(lib.loom_store_get_run, self.handle, _bytes(str(id_or_name)))

    def steps(self, run_id: int, after: int = -1) -> List[Dict[str, Any]]:
        return _call_json(lib.loom_store_read_steps, self.handle, run_id, after)

    def events(self, run_id: int, after: int = 0) -> List[Dict[str, Any]]:
        return _call_json(lib.loom_store_read_events, self.handle, run_id, after)


# --- launching -------------------------------------------------------------------------

class Launch(_Handle):
    """A multi-rank job as child processes (`loom launch`); see launch()."""

    _destroy = staticmethod(lib.loom_launch_destroy)

    def poll(self) -> Dict[str, int]:
        s = _ffi.LaunchState(ctypes.sizeof(_ffi.LaunchState))
        _check(lib.loom_launch_poll(self.handle, ctypes.byref(s)))
        return {"running": bool(s.running), "exit_code": s.exit_code, "restarts": s.restarts}

    def wait(self, timeout: Optional[float] = None) -> int:
        """The exit code once every rank ended; Timeout if still running after `timeout` seconds."""
        code = ctypes.c_int32()
        _check(lib.loom_launch_wait(self.handle, -1 if timeout is None else int(timeout * 1000), ctypes.byref(code)))
        return code.value

    def stop(self) -> None:
        _check(lib.loom_launch_stop(self.handle))


def launch(config_path: Optional[str] = None, nproc: int = 1, overrides: Optional[Mapping[str, Any]] = None,
           argv: Optional[Sequence[str]] = None, log_path: Optional[str] = None, max_restarts: int = 0,
           hang_timeout: float = 20.0, kill_grace: float = 3.0) -> Launch:
    """Starts `loom train CONFIG --key=value...` (or `argv`) on `nproc` local ranks and returns at once."""
    args, argc = _string_array(list(argv or []))
    toks, n = _string_array(_override_tokens(overrides))
    o = _ffi.LaunchOptions(ctypes.sizeof(_ffi.LaunchOptions), nproc, args, argc, _bytes(config_path), toks, n,
                           _bytes(log_path), max_restarts, int(hang_timeout * 1000), int(kill_grace * 1000))
    h = ctypes.c_void_p()
    _check(lib.loom_launch_start(ctypes.byref(h), ctypes.byref(o)))
    return Launch(h)
