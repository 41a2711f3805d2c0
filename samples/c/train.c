/* Train the small demo model through Loom's C ABI, then read its metrics
 * back from the run store. Plain C99 over loom.h and libloom.so only:
 *
 *   cc -std=c99 -pedantic -Wall -Wextra -Werror train.c $(pkg-config --cflags --libs loom) -o train
 *   ./train TOKENIZER_JSON TEXT_FILE WORK_DIR [STEPS]
 *
 * It tokenizes TEXT_FILE into WORK_DIR/data, trains a 2-layer Qwen3 for
 * STEPS (default 8) steps with a metrics callback, and checks that the run
 * store holds every step the callback saw, with the same losses. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <loom/loom.h>

#define MAX_STEPS 64

typedef struct {
  int64_t steps_seen;
  double losses[MAX_STEPS];
} progress;

static int32_t on_step(const loom_step_metrics* m, void* user_data) {
  progress* p = (progress*)user_data;
  if (p->steps_seen < MAX_STEPS) p->losses[p->steps_seen] = m->loss;
  p->steps_seen++;
  printf("step %lld/%lld  loss %.4f  lr %.2e  %.0f tokens/s\n", (long long)m->step + 1, (long long)m->total_steps, m->loss,
         m->lr, m->tokens_per_s);
  return 0; /* non-zero would cancel the run */
}

static int fail(const char* what, loom_status s) {
  fprintf(stderr, "train: %s failed: %s: %s\n", what, loom_status_name(s), loom_last_error_message());
  return 1;
}

/* Counts `"step":` keys in the store's JSON: one per step row. */
static int64_t count_steps(const char* json) {
  int64_t n = 0;
  const char* p = json;
  while ((p = strstr(p, "\"step\":")) != NULL) n++, p += 7;
  return n;
}

int main(int argc, char** argv) {
  char data[1024], run_dir[1024], db[1024], steps_arg[64];
  const char* inputs[1];
  loom_dataset_options dataset = LOOM_DATASET_OPTIONS_INIT;
  loom_trainer_options options = LOOM_TRAINER_OPTIONS_INIT;
  loom_trainer_state state = LOOM_TRAINER_STATE_INIT;
  loom_config* config = NULL;
  loom_trainer* trainer = NULL;
  loom_store* store = NULL;
  progress seen;
  char* report = NULL;
  char* plan = NULL;
  char* steps = NULL;
  loom_status s;
  int steps_wanted = argc > 4 ? atoi(argv[4]) : 8;
  const char* overrides[12];

  if (argc < 4 || steps_wanted < 1 || steps_wanted > MAX_STEPS) {
    fprintf(stderr, "usage: train TOKENIZER_JSON TEXT_FILE WORK_DIR [STEPS <= %d]\n", MAX_STEPS);
    return 2;
  }
  if ((s = LOOM_CHECK_ABI()) != LOOM_OK) return fail("loom_check_abi", s);
  printf("libloom %s\n", loom_version());

  /* 1. A token dataset from the text file. */
  snprintf(data, sizeof(data), "%s/data", argv[3]);
  inputs[0] = argv[2];
  dataset.tokenizer = argv[1];
  dataset.inputs = inputs;
  dataset.n_inputs = 1;
  dataset.output = data;
  dataset.format = "text";
  if ((s = loom_dataset_build(&dataset, &report)) != LOOM_OK) return fail("loom_dataset_build", s);
  printf("dataset: %s\n", report);
  loom_free(report);

  /* 2. The config: the sample's tiny Qwen3 with this run's paths. */
  snprintf(run_dir, sizeof(run_dir), "%s/runs", argv[3]);
  snprintf(db, sizeof(db), "%s/runs.sqlite", argv[3]);
  snprintf(steps_arg, sizeof(steps_arg), "%d", steps_wanted);
  overrides[0] = "--data.train";
  overrides[1] = data;
  overrides[2] = "--run.dir";
  overrides[3] = run_dir;
  overrides[4] = "--run.db";
  overrides[5] = db;
  overrides[6] = "--train.steps";
  overrides[7] = steps_arg;
  overrides[8] = "--data.tokenizer";
  overrides[9] = argv[1];
  s = loom_config_parse(&config,
                        "model: {family: qwen3, vocab_size: 151936, hidden_size: 32, intermediate_size: 64,\n"
                        "        num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8}\n"
                        "data: {seq_len: 64, micro_batch_size: 2}\n"
                        "train: {lr: 3e-3, warmup_steps: 2, eval_every: 0, log_every: 1, seed: 7}\n"
                        "run: {name: c_sample}\n",
                        "train.c", overrides, 10);
  if (s != LOOM_OK) return fail("loom_config_parse", s);
  if ((s = loom_plan_check(config, NULL, &plan)) != LOOM_OK) return fail("loom_plan_check", s);
  if (strstr(plan, "\"valid\":true") == NULL) {
    fprintf(stderr, "train: the plan is not valid: %s\n", plan);
    return 1;
  }
  loom_free(plan);

  /* 3. Train, watching each step. */
  memset(&seen, 0, sizeof(seen));
  options.on_step = on_step;
  options.on_step_user_data = &seen;
  if ((s = loom_trainer_create(&trainer, config, &options)) != LOOM_OK) return fail("loom_trainer_create", s);
  loom_config_destroy(config);
  if ((s = loom_trainer_run(trainer)) != LOOM_OK) return fail("loom_trainer_run", s);
  if ((s = loom_trainer_get_state(trainer, &state)) != LOOM_OK) return fail("loom_trainer_get_state", s);
  loom_trainer_destroy(trainer);

  /* 4. The metrics, read back from the run store. */
  if ((s = loom_store_open(&store, db)) != LOOM_OK) return fail("loom_store_open", s);
  if ((s = loom_store_read_steps(store, state.run_id, -1, &steps)) != LOOM_OK) return fail("loom_store_read_steps", s);
  printf("run %lld: status %d, %lld steps; the store holds %lld steps; loss %.4f -> %.4f\n", (long long)state.run_id,
         (int)state.status, (long long)state.step, (long long)count_steps(steps), seen.losses[0],
         seen.losses[seen.steps_seen - 1]);
  if (state.status != 1 || state.step != steps_wanted || seen.steps_seen != steps_wanted ||
      count_steps(steps) != steps_wanted || !(seen.losses[seen.steps_seen - 1] < seen.losses[0])) {
    fprintf(stderr, "train: expected a completed run of %d steps, each in the store, with a falling loss\n", steps_wanted);
    return 1;
  }
  loom_free(steps);
  loom_store_destroy(store);
  printf("ok\n");
  return 0;
}
