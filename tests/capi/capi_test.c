/* The C ABI from plain C99 (built with -std=c99 -pedantic -Werror): versions
 * and struct sizes, options defaults, misuse (NULL and destroyed handles,
 * bad JSON and UTF-8, wrong call order), a callback that aborts, and structs
 * from an older header. Usage: capi_test TOKENIZER_JSON TEXT_FILE WORK_DIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loom/loom.h"

static int g_failed = 0, g_passed = 0;
#define CHECK(cond)                                                                               \
  do {                                                                                            \
    if (cond) {                                                                                   \
      g_passed++;                                                                                 \
    } else {                                                                                      \
      g_failed++;                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond,    \
              loom_last_error_message());                                                         \
    }                                                                                             \
  } while (0)
#define HAS(text, part) (strstr((text), (part)) != NULL)

/* A trainer options struct as an older header declared it: callbacks for
 * steps only. */
typedef struct {
  size_t struct_size;
  loom_step_fn on_step;
  void* on_step_user_data;
} old_trainer_options;
typedef struct {
  size_t struct_size;
  int64_t step;
} old_trainer_state;

static int32_t count_steps(const loom_step_metrics* m, void* user_data) {
  (void)m;
  ++*(int*)user_data;
  return 0;
}
static int32_t abort_at_two(const loom_step_metrics* m, void* user_data) {
  ++*(int*)user_data;
  return m->step >= 1; /* the second step (indices start at 0) */
}

static char g_data[1024], g_db[1024], g_runs[1024];

static loom_config* tiny_config(const char* tokenizer, const char* steps) {
  loom_config* c = NULL;
  const char* o[] = {"--data.train", g_data, "--run.db", g_db, "--run.dir", g_runs, "--train.steps", steps,
                     "--data.tokenizer", tokenizer};
  loom_status s = loom_config_parse(&c,
                                    "model: {family: qwen3, vocab_size: 151936, hidden_size: 16, intermediate_size: 32,\n"
                                    "        num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, head_dim: 8}\n"
                                    "data: {seq_len: 32, micro_batch_size: 2}\n"
                                    "train: {eval_every: 0, warmup_steps: 1}\nrun: {name: capi_test}\n",
                                    "capi_test.yaml", o, 10);
  CHECK(s == LOOM_OK && c != NULL);
  return c;
}

int main(int argc, char** argv) {
  loom_config* c = NULL;
  loom_trainer* t = NULL;
  loom_store* store = NULL;
  char* text = NULL;
  char* before = NULL;
  int32_t more = -1;
  int steps = 0;
  if (argc < 4) {
    fprintf(stderr, "usage: capi_test TOKENIZER_JSON TEXT_FILE WORK_DIR\n");
    return 2;
  }
  snprintf(g_data, sizeof(g_data), "%s/data", argv[3]);
  snprintf(g_db, sizeof(g_db), "%s/runs.sqlite", argv[3]);
  snprintf(g_runs, sizeof(g_runs), "%s/runs", argv[3]);

  /* Versions and struct sizes. */
  CHECK(strcmp(loom_version(), "0.2.0") == 0);
  CHECK(LOOM_CHECK_ABI() == LOOM_OK);
  CHECK(strcmp(loom_last_error_message(), "") == 0);
  CHECK(loom_check_abi(LOOM_ABI_VERSION + 1, sizeof(loom_trainer_options), sizeof(loom_step_metrics),
                       sizeof(loom_plan_options), sizeof(loom_dataset_options), sizeof(loom_launch_options),
                       sizeof(loom_launch_state), sizeof(loom_trainer_state)) == LOOM_E_UNSUPPORTED);
  CHECK(HAS(loom_last_error_message(), "rebuild the caller"));
  CHECK(loom_check_abi(LOOM_ABI_VERSION, sizeof(loom_trainer_options) + 8, sizeof(loom_step_metrics),
                       sizeof(loom_plan_options), sizeof(loom_dataset_options), sizeof(loom_launch_options),
                       sizeof(loom_launch_state), sizeof(loom_trainer_state)) == LOOM_E_UNSUPPORTED);
  CHECK(HAS(loom_last_error_message(), "loom_trainer_options") && HAS(loom_last_error_message(), "newer"));
  CHECK(strcmp(loom_status_name(LOOM_E_TIMEOUT), "LOOM_E_TIMEOUT") == 0);

  /* INIT macros and _default() agree, field by field. */
  {
    loom_trainer_options a = LOOM_TRAINER_OPTIONS_INIT, b = loom_trainer_options_default();
    loom_plan_options p = LOOM_PLAN_OPTIONS_INIT, q = loom_plan_options_default();
    loom_dataset_options d = LOOM_DATASET_OPTIONS_INIT, e = loom_dataset_options_default();
    loom_launch_options l = LOOM_LAUNCH_OPTIONS_INIT, m = loom_launch_options_default();
    CHECK(a.struct_size == b.struct_size && a.on_step == b.on_step && a.on_log == b.on_log && a.join_world == b.join_world);
    CHECK(p.struct_size == q.struct_size && p.world == q.world && p.media_fraction == q.media_fraction && !q.memory_budget);
    CHECK(d.struct_size == e.struct_size && strcmp(d.format, e.format) == 0 && d.eval_fraction == e.eval_fraction);
    CHECK(l.struct_size == m.struct_size && l.nproc == m.nproc && l.hang_timeout_ms == m.hang_timeout_ms &&
          l.kill_grace_ms == m.kill_grace_ms && l.max_restarts == m.max_restarts);
  }

  /* Misuse: NULL handles and outputs, bad strings; outputs stay untouched. */
  CHECK(loom_trainer_step(NULL, &more) == LOOM_E_INVALID_ARG && more == -1);
  CHECK(HAS(loom_last_error_message(), "loom_trainer is NULL"));
  CHECK(loom_config_to_json(NULL, &text) == LOOM_E_INVALID_ARG && text == NULL);
  CHECK(loom_registry_json(NULL) == LOOM_E_INVALID_ARG);
  CHECK(loom_config_load(&c, "\xff\xfe.yaml", NULL, 0) == LOOM_E_INVALID_ARG && c == NULL);
  CHECK(HAS(loom_last_error_message(), "not valid UTF-8"));
  CHECK(loom_config_load(&c, "/no/such/config.yaml", NULL, 0) == LOOM_E_NOT_FOUND && c == NULL);
  CHECK(loom_store_open(&store, "/no/such/runs.sqlite") == LOOM_E_NOT_FOUND && store == NULL);
  loom_trainer_destroy(NULL);
  loom_config_destroy(NULL);

  /* Registry and config checks. */
  CHECK(loom_registry_json(&text) == LOOM_OK);
  CHECK(HAS(text, "\"qwen3_moe\"") && HAS(text, "\"qwen2_vision\"") && HAS(text, "\"train.lr\""));
  loom_free(text);
  CHECK(loom_config_check(&text, "train: {lr: -1}\n", "bad.yaml", NULL, 0) == LOOM_OK);
  CHECK(HAS(text, "\"valid\":false") && HAS(text, "\"keys\":[\"train.lr\"]"));
  loom_free(text);

  /* A dataset, then a config over it. */
  {
    const char* inputs[1];
    loom_dataset_options d = LOOM_DATASET_OPTIONS_INIT;
    inputs[0] = argv[2];
    d.tokenizer = argv[1];
    d.inputs = inputs;
    d.n_inputs = 1;
    d.output = g_data;
    d.format = "text";
    CHECK(loom_dataset_build(&d, &text) == LOOM_OK);
    CHECK(HAS(text, "\"docs\""));
    loom_free(text);
  }
  c = tiny_config(argv[1], "4");
  CHECK(loom_config_to_json(c, &before) == LOOM_OK);
  CHECK(loom_config_update(c, "{\"train.lr\": 3e-4,") == LOOM_E_INVALID_ARG);
  CHECK(HAS(loom_last_error_message(), "not valid JSON"));
  CHECK(loom_config_update(c, "{\"train.lr\": 3e-4, \"train.lrr\": 1}") == LOOM_E_INVALID_ARG);
  CHECK(HAS(loom_last_error_message(), "did you mean 'train.lr'"));
  CHECK(loom_config_to_json(c, &text) == LOOM_OK && strcmp(text, before) == 0); /* all or nothing */
  loom_free(text);
  loom_free(before);
  CHECK(loom_config_update(c, "{\"train.lr\": 2e-3, \"model.mlp_only_layers\": [], \"parallel.recompute\": \"full\"}") == LOOM_OK);
  CHECK(loom_config_to_json(c, &text) == LOOM_OK && HAS(text, "\"recompute\":\"full\""));
  loom_free(text);

  /* Plans: valid, and invalid as a result (not a failure). */
  {
    loom_plan_options p = LOOM_PLAN_OPTIONS_INIT;
    CHECK(loom_plan_check(c, &p, &text) == LOOM_OK && HAS(text, "\"valid\":true") && HAS(text, "memory_per_rank"));
    loom_free(text);
    p.world = 3;
    CHECK(loom_config_update(c, "{\"parallel.dp_shard\": 2}") == LOOM_OK);
    CHECK(loom_plan_check(c, &p, &text) == LOOM_OK && HAS(text, "\"valid\":false") && HAS(text, "parallel.dp_shard"));
    loom_free(text);
    CHECK(loom_config_update(c, "{\"parallel.dp_shard\": -1}") == LOOM_OK);
    p.struct_size = sizeof(p) + 16; /* a newer header's struct */
    CHECK(loom_plan_check(c, &p, &text) == LOOM_E_INVALID_ARG && HAS(loom_last_error_message(), "struct_size"));
  }

  /* An older, smaller options struct works; its missing fields take defaults. */
  {
    old_trainer_options old;
    old.struct_size = sizeof(old);
    old.on_step = count_steps;
    old.on_step_user_data = &steps;
    CHECK(loom_trainer_create(&t, c, (const loom_trainer_options*)&old) == LOOM_OK);
    CHECK(loom_trainer_run(t) == LOOM_OK && steps == 4);
    {
      struct {
        old_trainer_state state;
        int64_t after;
      } buf;
      buf.state.struct_size = sizeof(old_trainer_state);
      buf.after = 12345;
      CHECK(loom_trainer_get_state(t, (loom_trainer_state*)&buf.state) == LOOM_OK);
      CHECK(buf.state.step == 4 && buf.after == 12345 && buf.state.struct_size == sizeof(old_trainer_state));
    }
    /* Wrong order: a finished run takes no more steps. */
    more = -1;
    CHECK(loom_trainer_step(t, &more) == LOOM_OK && more == 0);
    loom_trainer_destroy(t);
    /* A destroyed handle is refused, twice destroyed is harmless. */
    CHECK(loom_trainer_step(t, &more) == LOOM_E_INVALID_ARG && HAS(loom_last_error_message(), "not live"));
    loom_trainer_destroy(t);
    CHECK(HAS(loom_last_error_message(), "not live"));
    t = NULL;
  }

  /* A callback that asks to abort: cancelled at that step's boundary. */
  {
    loom_trainer_options o = LOOM_TRAINER_OPTIONS_INIT;
    loom_trainer_state st = LOOM_TRAINER_STATE_INIT;
    steps = 0;
    o.on_step = abort_at_two;
    o.on_step_user_data = &steps;
    CHECK(loom_trainer_create(&t, c, &o) == LOOM_OK);
    CHECK(loom_trainer_run(t) == LOOM_E_CANCELLED && HAS(loom_last_error_message(), "callback asked to abort"));
    CHECK(loom_trainer_get_state(t, &st) == LOOM_OK && st.status == 3 && st.step == 2 && steps == 2);
    CHECK(loom_trainer_step(t, &more) == LOOM_E_CANCELLED);
    loom_trainer_destroy(t);
  }
  /* Cancel before a step, as another thread would. */
  CHECK(loom_trainer_create(&t, c, NULL) == LOOM_OK);
  CHECK(loom_trainer_cancel(t) == LOOM_OK);
  CHECK(loom_trainer_step(t, &more) == LOOM_E_CANCELLED);
  loom_trainer_destroy(t);

  /* The store saw all three runs: completed, cancelled, cancelled. */
  CHECK(loom_store_open(&store, g_db) == LOOM_OK);
  CHECK(loom_store_list_runs(store, &text) == LOOM_OK && HAS(text, "\"completed\"") && HAS(text, "\"cancelled\""));
  loom_free(text);
  CHECK(loom_store_get_run(store, "no_such_run", &text) == LOOM_E_NOT_FOUND);
  CHECK(loom_store_read_steps(store, 1, 2, &text) == LOOM_OK && HAS(text, "\"step\":3") && !HAS(text, "\"step\":2,") && !HAS(text, "\"step\":0,"));
  loom_free(text);
  CHECK(loom_store_read_events(store, 1, 0, &text) == LOOM_OK && HAS(text, "\"kind\""));
  loom_free(text);
  loom_store_destroy(store);
  loom_config_destroy(c);
  CHECK(loom_config_to_yaml(c, &text) == LOOM_E_INVALID_ARG);

  printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed ? 1 : 0;
}
