/* Loom's stable C ABI: drive training from any language.
 *
 * A thin layer over the C++ SDK (sdk/): the registry, configs, plans, a
 * trainer, datasets, the run store and a local launcher. The `loom` CLI and
 * this ABI call the same C++ functions, so they cannot disagree.
 *
 * Conventions (docs/design/c-abi.md; STYLE.md rules 11-21):
 *  - Every symbol is prefixed loom_ / LOOM_; libloom.so exports nothing else.
 *  - Fallible functions return loom_status (LOOM_OK = 0, negative codes
 *    below) and write their out-parameters only on success. The message of
 *    the last failure on the calling thread is loom_last_error_message().
 *    No C++ exception ever crosses this boundary.
 *  - Handles are opaque (loom_config, loom_trainer, loom_store, loom_launch).
 *    `_create`/`_load`/`_open`/`_start` make one, `_destroy` releases it;
 *    destroy functions accept NULL. A handle that was never made by this
 *    library, or was destroyed already, is refused with LOOM_E_INVALID_ARG
 *    (never a crash): the library keeps the set of live handles.
 *  - Strings are NUL-terminated UTF-8; invalid UTF-8 is refused with
 *    LOOM_E_INVALID_ARG. Strings the library returns through `char**` are
 *    the caller's, released with loom_free(); JSON results are UTF-8 JSON
 *    text documented per function.
 *  - Options structs start with `size_t struct_size` (set by the
 *    LOOM_X_OPTIONS_INIT macro or loom_x_options_default()). Fields are only
 *    ever appended: the library reads the first struct_size bytes, and
 *    fields a smaller (older) struct lacks take their defaults. A
 *    struct_size larger than the library knows (a newer header) is refused.
 *  - Callbacks are a function pointer followed by its `void* user_data`;
 *    a callback returning non-zero asks to abort, which surfaces as
 *    LOOM_E_CANCELLED. Each callback says on which thread it runs.
 *  - Threading: unless a function says otherwise, a handle is used by one
 *    thread at a time; different handles may be used from different threads.
 *
 * Versioning: LOOM_VERSION_* and LOOM_ABI_VERSION below; bindings call
 * LOOM_CHECK_ABI() once at load. A changed behaviour gets a new `_v2`
 * function; a shipped signature never changes.
 */
#ifndef LOOM_LOOM_H_
#define LOOM_LOOM_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(LOOM_BUILDING_LIBRARY)
#define LOOM_API __attribute__((visibility("default")))
#else
#define LOOM_API
#endif

#define LOOM_VERSION_MAJOR 0
#define LOOM_VERSION_MINOR 2
#define LOOM_VERSION_PATCH 0
/* Bumped on any ABI break; passed to loom_check_abi. */
#define LOOM_ABI_VERSION 2

/* ---------------------------------------------------------------------------
 * [SECTION] Status, errors, memory
 * ------------------------------------------------------------------------- */

/** Status codes: LOOM_OK or a negative code. */
typedef int32_t loom_status;
#define LOOM_OK 0
#define LOOM_E_INVALID_ARG (-1) /* bad argument, config, plan, handle or call order */
#define LOOM_E_NOT_FOUND (-2)   /* a file, run or checkpoint that does not exist */
#define LOOM_E_UNSUPPORTED (-3) /* ABI mismatch, or an operation this build lacks */
#define LOOM_E_OOM (-4)         /* out of memory */
#define LOOM_E_DIST (-5)        /* a collective, a peer rank or the network failed */
#define LOOM_E_CANCELLED (-6)   /* a callback or loom_trainer_cancel stopped it */
#define LOOM_E_TIMEOUT (-7)     /* a wait ran out of time (nothing failed) */
#define LOOM_E_DATA (-8)        /* a data file or sample is unusable */
#define LOOM_E_INTERNAL (-100)  /* anything else (a bug: please report it) */

/** The library version as "MAJOR.MINOR.PATCH". Static storage; never free. */
LOOM_API const char* loom_version(void);

/** Checks that the caller was compiled against a compatible header: the ABI
 *  version and the sizes of the public structs as the caller sees them.
 *  Use LOOM_CHECK_ABI(), which passes them all.
 *  @return LOOM_OK; LOOM_E_UNSUPPORTED when the ABI version differs or a
 *          struct is larger than this library's (the caller's header is
 *          newer): the message names the struct and both sizes. Thread-safe. */
LOOM_API loom_status loom_check_abi(int32_t abi_version, size_t trainer_options_size, size_t step_metrics_size,
                                    size_t plan_options_size, size_t dataset_options_size,
                                    size_t launch_options_size, size_t launch_state_size,
                                    size_t trainer_state_size);
#define LOOM_CHECK_ABI()                                                                             \
  loom_check_abi(LOOM_ABI_VERSION, sizeof(loom_trainer_options), sizeof(loom_step_metrics),         \
                 sizeof(loom_plan_options), sizeof(loom_dataset_options), sizeof(loom_launch_options), \
                 sizeof(loom_launch_state), sizeof(loom_trainer_state))

/** Message of the last failure on the calling thread ("" when the last call
 *  succeeded). Valid until the next loom_* call on this thread. Never NULL.
 *  Messages name the problem and the fix. */
LOOM_API const char* loom_last_error_message(void);

/** The name of a status code ("LOOM_E_DIST", ...). Static storage. */
LOOM_API const char* loom_status_name(loom_status status);

/** Releases a string (or any buffer) this library returned. NULL is a no-op.
 *  Never pass memory from another allocator. Thread-safe. */
LOOM_API void loom_free(void* p);

/* ---------------------------------------------------------------------------
 * [SECTION] Registry
 * ------------------------------------------------------------------------- */

/** The model registry and the config schema, for building forms.
 *  @param[out] out_json  caller frees with loom_free:
 *    {"families": [{"model_type", "description", "kind": "llm"|"omni", "plan": {...patterns}}],
 *     "components": [{"role": "vision"|"audio"|"llm", "model_type", "modality",
 *                     "config": {default config.json}, "fields": [{"name", "type", "default"}]}],
 *     "config_schema": [{"name": "train.lr", "section", "type", "default", "choices",
 *                        "range"?, "doc"}]}
 *  Thread-safe. */
LOOM_API loom_status loom_registry_json(char** out_json);

/* ---------------------------------------------------------------------------
 * [SECTION] Configs
 * ------------------------------------------------------------------------- */

/** A resolved, validated training config (YAML sections model, data, train,
 *  run, parallel, components; docs/config.md lists every key). */
typedef struct loom_config loom_config;

/** Loads a YAML config file, then applies dotted overrides in order.
 *  @param[in] path         YAML file; NULL or "" starts from the defaults.
 *  @param[in] overrides    `n_overrides` tokens as on the `loom train` command
 *                          line: {"--train.lr", "3e-4", "--train.steps=5"}; may
 *                          be NULL when n_overrides is 0.
 *  @param[out] out_config  the new config; destroy with loom_config_destroy.
 *  @return LOOM_OK; LOOM_E_INVALID_ARG for a bad file, key or value (the
 *          message names the file and line or the override, and the fix). */
LOOM_API loom_status loom_config_load(loom_config** out_config, const char* path, const char* const* overrides,
                                      size_t n_overrides);

/** As loom_config_load, with the YAML given as text; `source_name` names it
 *  in messages (NULL: "<string>"). */
LOOM_API loom_status loom_config_parse(loom_config** out_config, const char* yaml, const char* source_name,
                                       const char* const* overrides, size_t n_overrides);

/** Sets dotted keys from a JSON object, all or nothing (on any error the
 *  config is unchanged): {"train.lr": 3e-4, "parallel.sp": 2,
 *  "model.mlp_only_layers": [0], "components.vision.parallel.recompute": "full"}.
 *  Values may be JSON strings, numbers, booleans or integer arrays.
 *  @return LOOM_OK; LOOM_E_INVALID_ARG for invalid JSON, an unknown key
 *          (with the nearest one) or a bad value. */
LOOM_API loom_status loom_config_update(loom_config* config, const char* json_object);

/** The resolved config, every key included, as JSON ({"model": {...}, ...})
 *  or as YAML that loom_config_parse (and `loom train`) reads back.
 *  @param[out] out_text  caller frees with loom_free. */
LOOM_API loom_status loom_config_to_json(const loom_config* config, char** out_text);
LOOM_API loom_status loom_config_to_yaml(const loom_config* config, char** out_text);

/** Validates YAML text plus overrides without keeping a handle: always
 *  LOOM_OK when the text was examined (argument errors aside), with
 *  @param[out] out_json {"valid": true, "config": {...resolved}} or
 *          {"valid": false, "errors": [{"message", "keys": [dotted keys it names]}]}.
 *          Caller frees with loom_free. Thread-safe. */
LOOM_API loom_status loom_config_check(char** out_json, const char* yaml, const char* source_name,
                                       const char* const* overrides, size_t n_overrides);

/** Releases a config. NULL is a no-op. */
LOOM_API void loom_config_destroy(loom_config* config);

/* ---------------------------------------------------------------------------
 * [SECTION] Plans
 * ------------------------------------------------------------------------- */

typedef struct loom_plan_options {
  size_t struct_size;        /* sizeof(loom_plan_options) */
  int64_t world;             /* ranks; default 1 */
  const char* memory_budget; /* per rank, e.g. "80GiB": also report the longest row that fits; NULL: skip */
  double media_fraction;     /* omni: each encoder's share of a row's tokens; default 0.25 */
} loom_plan_options;
#define LOOM_PLAN_OPTIONS_INIT {sizeof(loom_plan_options), 1, NULL, 0.25}
LOOM_API loom_plan_options loom_plan_options_default(void);

/** The parallel plan `loom train` would run for `config` on options->world
 *  ranks, validated, with the per-rank, per-component memory estimate.
 *  @param[in] options  NULL: the defaults.
 *  @param[out] out_json caller frees with loom_free:
 *    {"valid": true, "plan": {"world", "components": [{"name", "mesh": {...}, "fsdp", ...}]},
 *     "memory_per_rank": {"<component>": {"params_bytes", ..., "total_bytes"}},
 *     "memory_budget"?: {"bytes", "longest_seq_len"}}
 *    or {"valid": false, "errors": [{"message", "keys": ["parallel.sp", ...]}]}:
 *    an invalid plan is a result, not a failure (LOOM_OK).
 *  Blocks for the time it takes to build the model's shapes (meta device). */
LOOM_API loom_status loom_plan_check(const loom_config* config, const loom_plan_options* options, char** out_json);

/* ---------------------------------------------------------------------------
 * [SECTION] Training
 * ------------------------------------------------------------------------- */

/** One optimizer step's metrics, as the run store records them. Valid only
 *  during the callback. Read fields only within struct_size. */
typedef struct loom_step_metrics {
  size_t struct_size;
  int64_t step;           /* the step's index: 0 for the first (as the run store records it) */
  int64_t total_steps;    /* train.steps */
  double loss;
  double lr;
  double grad_norm;
  double tokens_per_s;    /* global tokens per second */
  double step_time_s;
  int64_t peak_mem_bytes;
  const char* extra_json; /* JSON object: eval loss, per-modality losses, ... */
} loom_step_metrics;

/** Called after each step on the thread that called loom_trainer_step/run
 *  (rank 0 only when distributed). Non-zero: cancel the run at this step
 *  boundary (with a final checkpoint when train.checkpoint_every > 0); the
 *  call returns LOOM_E_CANCELLED. */
typedef int32_t (*loom_step_fn)(const loom_step_metrics* metrics, void* user_data);
/** Called for each event (build, plan, eval, checkpoint, export, cancel, ...)
 *  on the training thread (rank 0). Non-zero aborts as loom_step_fn. */
typedef int32_t (*loom_event_fn)(int64_t step, const char* kind, const char* message, void* user_data);
/** Called for each log line on the training thread (rank 0). */
typedef void (*loom_log_fn)(const char* line, void* user_data);

typedef struct loom_trainer_options {
  size_t struct_size; /* sizeof(loom_trainer_options) */
  loom_step_fn on_step;
  void* on_step_user_data;
  loom_event_fn on_event;
  void* on_event_user_data;
  loom_log_fn on_log;
  void* on_log_user_data;
  /* 1: join the world from RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT
   * (set by loom_launch_start or torchrun) when WORLD_SIZE > 1, as
   * `loom train` does; 0 (default): one process. */
  int32_t join_world;
} loom_trainer_options;
#define LOOM_TRAINER_OPTIONS_INIT {sizeof(loom_trainer_options), NULL, NULL, NULL, NULL, NULL, NULL, 0}
LOOM_API loom_trainer_options loom_trainer_options_default(void);

/** One training run: the model, the plan applied, data, optimizer, and (rank
 *  0) a run in the store (run.dir / run.store). One thread at a time, except
 *  loom_trainer_cancel. */
typedef struct loom_trainer loom_trainer;

/** Builds a trainer from a config (copied: the config may be destroyed).
 *  Resumes when train.resume is set. Blocks while the model is built.
 *  @param[in] options  NULL: the defaults (no callbacks, one process).
 *  @return LOOM_OK; LOOM_E_INVALID_ARG (config, plan, model), LOOM_E_NOT_FOUND
 *          (a dataset or checkpoint missing), LOOM_E_DATA, LOOM_E_DIST. */
LOOM_API loom_status loom_trainer_create(loom_trainer** out_trainer, const loom_config* config,
                                         const loom_trainer_options* options);

/** One optimizer step (collective when distributed).
 *  @param[out] out_more  1 if a step was taken and more may follow, 0 once
 *                        no step is left (nothing was done). May be NULL.
 *  @return LOOM_OK; LOOM_E_CANCELLED when a callback or loom_trainer_cancel
 *          stopped the run (it is recorded `cancelled`); another code when the
 *          step failed: the run is recorded `failed` and every later call on
 *          this trainer returns LOOM_E_INVALID_ARG naming that failure. */
LOOM_API loom_status loom_trainer_step(loom_trainer* trainer, int32_t* out_more);

/** Steps until train.steps are done, then marks the run completed (no
 *  export: see loom_trainer_export). Returns as loom_trainer_step. */
LOOM_API loom_status loom_trainer_run(loom_trainer* trainer);

/** Asks the run to stop at the next step boundary. Thread-safe: call it from
 *  any thread (or a signal handler) while another thread steps. */
LOOM_API loom_status loom_trainer_cancel(loom_trainer* trainer);

/** Mean loss over the held-out batches (train.eval_batches of data.eval).
 *  LOOM_E_INVALID_ARG when data.eval is not set. */
LOOM_API loom_status loom_trainer_evaluate(loom_trainer* trainer, double* out_loss);

/** Writes a sharded checkpoint and commits it before returning (collective).
 *  @param[out] out_dir  its directory; caller frees with loom_free. */
LOOM_API loom_status loom_trainer_save_checkpoint(loom_trainer* trainer, char** out_dir);

/** Writes the model as a Hugging Face directory (gathered to rank 0).
 *  @param[out] out_dir  the directory; caller frees with loom_free. */
LOOM_API loom_status loom_trainer_export(loom_trainer* trainer, char** out_dir);

/** Marks the run completed in the store; later steps are refused. */
LOOM_API loom_status loom_trainer_finish(loom_trainer* trainer);

/** Where a trainer stands. Fields past struct_size are not written. */
typedef struct loom_trainer_state {
  size_t struct_size;  /* set by the caller: sizeof(loom_trainer_state) */
  int64_t step;        /* optimizer steps done */
  int64_t total_steps;
  int64_t run_id;      /* in the run store (0 on ranks other than 0) */
  double last_loss;
  int32_t status;      /* 0 running, 1 completed, 2 failed, 3 cancelled */
} loom_trainer_state;
#define LOOM_TRAINER_STATE_INIT {sizeof(loom_trainer_state), 0, 0, 0, 0.0, 0}

/** Fills *out_state (out_state->struct_size must be set). */
LOOM_API loom_status loom_trainer_get_state(const loom_trainer* trainer, loom_trainer_state* out_state);

/** Releases a trainer; a run not finished is recorded `failed` ("destroyed
 *  before the run finished"). NULL is a no-op. */
LOOM_API void loom_trainer_destroy(loom_trainer* trainer);

/* ---------------------------------------------------------------------------
 * [SECTION] Data
 * ------------------------------------------------------------------------- */

typedef struct loom_dataset_options {
  size_t struct_size;       /* sizeof(loom_dataset_options) */
  const char* tokenizer;    /* a Hugging Face tokenizer.json */
  const char* const* inputs; /* n_inputs JSONL or text files (chat: conversation JSONL) */
  size_t n_inputs;
  const char* output;       /* dataset prefix: writes <output>.{tokens,docs,json} */
  const char* format;       /* "auto" (default, by extension) | "jsonl" | "text" | "chat" */
  double eval_fraction;     /* [0, 1): also hold out <output>-eval; default 0 */
} loom_dataset_options;
#define LOOM_DATASET_OPTIONS_INIT {sizeof(loom_dataset_options), NULL, NULL, 0, NULL, "auto", 0.0}
LOOM_API loom_dataset_options loom_dataset_options_default(void);

/** Tokenizes the inputs into a dataset (what `loom data build` does).
 *  @param[out] out_report_json {"prefixes", "docs", "tokens", "skipped", "issues"}
 *                              (chat: also "images", "clips"); loom_free it. */
LOOM_API loom_status loom_dataset_build(const loom_dataset_options* options, char** out_report_json);

/** How data.train packs into micro-batches under `config` (fixed rows, or
 *  dynamic batching to data.max_tokens_per_micro_batch), read by the
 *  trainer's own loader: the first n_batches (>= 1).
 *  @param[out] out_json {"kind", "dynamic", "budget", "mean_fill", "batches": [{"rows",
 *    "seq_len", "positions", "tokens", "label_tokens", "documents", "images", "clips",
 *    "fill"}]}; loom_free it. */
LOOM_API loom_status loom_dataset_preview(const loom_config* config, int64_t n_batches, char** out_json);

/* ---------------------------------------------------------------------------
 * [SECTION] Run store
 * ------------------------------------------------------------------------- */

/** A read-only view of a run store (SQLite, WAL): it sees rows a live run
 *  commits and never blocks its writer. Thread-safe. */
typedef struct loom_store loom_store;

/** Opens an existing store (e.g. "runs/loom.sqlite").
 *  @return LOOM_OK; LOOM_E_NOT_FOUND if missing; LOOM_E_INVALID_ARG if not a store. */
LOOM_API loom_status loom_store_open(loom_store** out_store, const char* path);

/** Every run, newest first: [{"id", "name", "status": "running"|"completed"|
 *  "failed"|"cancelled"|"lost", "started_at", "ended_at", "duration_s",
 *  "world_size", "error", "num_steps", "last_step", "last_loss"}]. */
LOOM_API loom_status loom_store_list_runs(loom_store* store, char** out_json);

/** One run by id ("12") or name (the newest of that name), as a list entry
 *  plus "config" (the resolved config). LOOM_E_NOT_FOUND if none. */
LOOM_API loom_status loom_store_get_run(loom_store* store, const char* id_or_name, char** out_json);

/** The run's steps with step > after_step (pass -1 for all), in step order:
 *  [{"step", "loss", "lr", "grad_norm", "tokens_per_s", "step_time_s",
 *    "peak_mem_bytes", "extra": {...}}]; NaN metrics are null. A live
 *  reader passes the last step it has seen. */
LOOM_API loom_status loom_store_read_steps(loom_store* store, int64_t run_id, int64_t after_step, char** out_json);

/** The run's events with id > after_id (0 for all), in logging order:
 *  [{"id", "step", "time", "kind", "message"}]. */
LOOM_API loom_status loom_store_read_events(loom_store* store, int64_t run_id, int64_t after_id, char** out_json);

/** Closes a store. NULL is a no-op. */
LOOM_API void loom_store_destroy(loom_store* store);

/* ---------------------------------------------------------------------------
 * [SECTION] Launching
 * ------------------------------------------------------------------------- */

typedef struct loom_launch_options {
  size_t struct_size;         /* sizeof(loom_launch_options) */
  int32_t nproc;              /* ranks; default 1 */
  /* What every rank runs: `argc` arguments (argv[0] found on PATH), or, when
   * argc is 0, `loom train <config_path> <overrides...>` with the loom
   * executable next to this library (or $LOOM_EXECUTABLE). */
  const char* const* argv;
  size_t argc;
  const char* config_path;
  const char* const* overrides;
  size_t n_overrides;
  const char* log_path;       /* append every rank's "[rank K] line" output here; NULL: this process's stdout/stderr */
  int32_t max_restarts;       /* restart every rank from the last checkpoint after a failure, up to N times */
  int32_t hang_timeout_ms;    /* a rank silent this long is hung; default 20000; 0: never */
  int32_t kill_grace_ms;      /* SIGTERM then, this much later, SIGKILL; default 3000 */
} loom_launch_options;
#define LOOM_LAUNCH_OPTIONS_INIT {sizeof(loom_launch_options), 1, NULL, 0, NULL, NULL, 0, NULL, 0, 20000, 3000}
LOOM_API loom_launch_options loom_launch_options_default(void);

/** A multi-rank job as child processes of this one (`loom launch`), run by a
 *  library thread. Thread-safe. */
typedef struct loom_launch loom_launch;

typedef struct loom_launch_state {
  size_t struct_size; /* set by the caller: sizeof(loom_launch_state) */
  int32_t running;    /* 1 while any rank runs */
  int32_t exit_code;  /* once ended: 0 when every rank exited 0; else the first failure's code (128+signal) */
  int32_t restarts;   /* restarts begun so far */
} loom_launch_state;
#define LOOM_LAUNCH_STATE_INIT {sizeof(loom_launch_state), 0, 0, 0}

/** Starts every rank and returns at once. The ranks die with this process. */
LOOM_API loom_status loom_launch_start(loom_launch** out_launch, const loom_launch_options* options);

/** Fills *out_state (out_state->struct_size must be set); never blocks. */
LOOM_API loom_status loom_launch_poll(loom_launch* launch, loom_launch_state* out_state);

/** Waits up to timeout_ms (< 0: forever) for the job to end.
 *  @return LOOM_OK with *out_exit_code; LOOM_E_TIMEOUT while it still runs. */
LOOM_API loom_status loom_launch_wait(loom_launch* launch, int64_t timeout_ms, int32_t* out_exit_code);

/** Stops every rank (SIGTERM, then SIGKILL after the grace); returns at once.
 *  A trainer stopped so records `cancelled` with a final checkpoint. */
LOOM_API loom_status loom_launch_stop(loom_launch* launch);

/** Stops the job if it still runs, waits for it, and releases the handle.
 *  NULL is a no-op. */
LOOM_API void loom_launch_destroy(loom_launch* launch);

#ifdef __cplusplus
}
#endif

#endif /* LOOM_LOOM_H_ */
