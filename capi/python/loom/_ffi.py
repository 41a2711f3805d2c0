"""ctypes declarations of loom.h: the structs and every function's signature.

ctypes (standard library) rather than cffi: nothing to compile at install time,
no dependency, and the ABI is plain C with size-tagged structs, which ctypes
mirrors directly. The library is found at $LOOM_LIBRARY, else by the loader
(ldconfig paths, LD_LIBRARY_PATH) as libloom.so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

ABI_VERSION = 2

c_char_p_p = ctypes.POINTER(ctypes.c_char_p)
status_t = ctypes.c_int32


class StepMetrics(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("step", ctypes.c_int64), ("total_steps", ctypes.c_int64),
                ("loss", ctypes.c_double), ("lr", ctypes.c_double), ("grad_norm", ctypes.c_double),
                ("tokens_per_s", ctypes.c_double), ("step_time_s", ctypes.c_double),
                ("peak_mem_bytes", ctypes.c_int64), ("extra_json", ctypes.c_char_p)]


STEP_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(StepMetrics), ctypes.c_void_p)
EVENT_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int64, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)


class TrainerOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("on_step", STEP_FN), ("on_step_user_data", ctypes.c_void_p),
                ("on_event", EVENT_FN), ("on_event_user_data", ctypes.c_void_p),
                ("on_log", LOG_FN), ("on_log_user_data", ctypes.c_void_p), ("join_world", ctypes.c_int32)]


class TrainerState(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("step", ctypes.c_int64), ("total_steps", ctypes.c_int64),
                ("run_id", ctypes.c_int64), ("last_loss", ctypes.c_double), ("status", ctypes.c_int32)]


class PlanOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("world", ctypes.c_int64), ("memory_budget", ctypes.c_char_p),
                ("media_fraction", ctypes.c_double)]


class DatasetOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("tokenizer", ctypes.c_char_p), ("inputs", c_char_p_p),
                ("n_inputs", ctypes.c_size_t), ("output", ctypes.c_char_p), ("format", ctypes.c_char_p),
                ("eval_fraction", ctypes.c_double)]


class LaunchOptions(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("nproc", ctypes.c_int32), ("argv", c_char_p_p),
                ("argc", ctypes.c_size_t), ("config_path", ctypes.c_char_p), ("overrides", c_char_p_p),
                ("n_overrides", ctypes.c_size_t), ("log_path", ctypes.c_char_p), ("max_restarts", ctypes.c_int32),
                ("hang_timeout_ms", ctypes.c_int32), ("kill_grace_ms", ctypes.c_int32)]


class LaunchState(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("running", ctypes.c_int32), ("exit_code", ctypes.c_int32),
                ("restarts", ctypes.c_int32)]


vp = ctypes.c_void_p
pvp = ctypes.POINTER(ctypes.c_void_p)
out_str = ctypes.POINTER(ctypes.c_void_p)  # char**: kept as a raw pointer so loom_free gets it back
i64, i32, size = ctypes.c_int64, ctypes.c_int32, ctypes.c_size_t

# name: (restype, argtypes)
SIGNATURES = {
    "loom_version": (ctypes.c_char_p, []),
    "loom_check_abi": (status_t, [i32, size, size, size, size, size, size, size]),
    "loom_last_error_message": (ctypes.c_char_p, []),
    "loom_status_name": (ctypes.c_char_p, [status_t]),
    "loom_free": (None, [vp]),
    "loom_registry_json": (status_t, [out_str]),
    "loom_config_load": (status_t, [pvp, ctypes.c_char_p, c_char_p_p, size]),
    "loom_config_parse": (status_t, [pvp, ctypes.c_char_p, ctypes.c_char_p, c_char_p_p, size]),
    "loom_config_update": (status_t, [vp, ctypes.c_char_p]),
    "loom_config_to_json": (status_t, [vp, out_str]),
    "loom_config_to_yaml": (status_t, [vp, out_str]),
    "loom_config_check": (status_t, [out_str, ctypes.c_char_p, ctypes.c_char_p, c_char_p_p, size]),
    "loom_config_destroy": (None, [vp]),
    "loom_plan_check": (status_t, [vp, ctypes.POINTER(PlanOptions), out_str]),
    "loom_trainer_create": (status_t, [pvp, vp, ctypes.POINTER(TrainerOptions)]),
    "loom_trainer_step": (status_t, [vp, ctypes.POINTER(i32)]),
    "loom_trainer_run": (status_t, [vp]),
    "loom_trainer_cancel": (status_t, [vp]),
    "loom_trainer_evaluate": (status_t, [vp, ctypes.POINTER(ctypes.c_double)]),
    "loom_trainer_save_checkpoint": (status_t, [vp, out_str]),
    "loom_trainer_export": (status_t, [vp, out_str]),
    "loom_trainer_finish": (status_t, [vp]),
    "loom_trainer_get_state": (status_t, [vp, ctypes.POINTER(TrainerState)]),
    "loom_trainer_destroy": (None, [vp]),
    "loom_dataset_build": (status_t, [ctypes.POINTER(DatasetOptions), out_str]),
    "loom_dataset_preview": (status_t, [vp, i64, out_str]),
    "loom_store_open": (status_t, [pvp, ctypes.c_char_p]),
    "loom_store_list_runs": (status_t, [vp, out_str]),
    "loom_store_get_run": (status_t, [vp, ctypes.c_char_p, out_str]),
    "loom_store_read_steps": (status_t, [vp, i64, i64, out_str]),
    "loom_store_read_events": (status_t, [vp, i64, i64, out_str]),
    "loom_store_destroy": (None, [vp]),
    "loom_launch_start": (status_t, [pvp, ctypes.POINTER(LaunchOptions)]),
    "loom_launch_poll": (status_t, [vp, ctypes.POINTER(LaunchState)]),
    "loom_launch_wait": (status_t, [vp, i64, ctypes.POINTER(i32)]),
    "loom_launch_stop": (status_t, [vp]),
    "loom_launch_destroy": (None, [vp]),
}


def load_library() -> ctypes.CDLL:
    path = os.environ.get("LOOM_LIBRARY") or ctypes.util.find_library("loom") or "libloom.so"
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(f"cannot load Loom's C library ({path}): {e}; set LOOM_LIBRARY to libloom.so "
                          "(build/capi/libloom.so in a build tree, PREFIX/lib/libloom.so once installed)") from e
    for name, (restype, argtypes) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


lib = load_library()
