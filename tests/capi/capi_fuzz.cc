// Random misuse of the C ABI: thousands of calls picked at random, with
// NULL, live, destroyed and stray handles, NULL / invalid-UTF-8 / bad-JSON
// strings and odd sizes. Every call must return a known status, set a
// message exactly when it fails, and never crash (run it under the
// sanitizers too: docs/design/c-abi.md). Uses only loom.h and libloom.so.
// Usage: capi_fuzz WORK_DIR [CALLS] [SEED]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "loom/loom.h"

namespace {

std::mt19937_64 rng;
int failures = 0;
long calls = 0, errors = 0;

template <typename T>
T Pick(const std::vector<T>& v) { return v[rng() % v.size()]; }

void Check(loom_status s, const char* what) {
  ++calls;
  const bool known = s == LOOM_OK || s == LOOM_E_INVALID_ARG || s == LOOM_E_NOT_FOUND || s == LOOM_E_UNSUPPORTED ||
                     s == LOOM_E_CANCELLED || s == LOOM_E_TIMEOUT || s == LOOM_E_DATA;
  const bool has_message = std::strlen(loom_last_error_message()) > 0;
  if (!known || (s != LOOM_OK) != has_message) {
    ++failures;
    std::fprintf(stderr, "%s: status %s, message '%s'\n", what, loom_status_name(s), loom_last_error_message());
  }
  if (s != LOOM_OK) ++errors;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string work = argv[1];
  const long n = argc > 2 ? std::atol(argv[2]) : 3000;
  rng.seed(argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1);
  if (LOOM_CHECK_ABI() != LOOM_OK) return 1;

  std::vector<loom_config*> configs{nullptr}, dead_configs;
  std::vector<loom_store*> stores{nullptr};
  auto* stray = reinterpret_cast<loom_config*>(&failures);  // never a handle
  const std::vector<const char*> strings{nullptr, "", "\xc3\x28", "{", "[1,2]", "{\"train.lr\": 1e-3}",
                                         "{\"train.nope\": 1}", "{\"train.lr\": \"fast\"}", "train: {lr: 0.001}\n",
                                         "train: [\n", "model: {hidden_size: 0}\n", "42"};
  const std::vector<const char*> tokens_a{"--train.steps", "2"}, tokens_b{"--train.lr"}, tokens_c{"--bad key"};
  const std::vector<const std::vector<const char*>*> token_sets{&tokens_a, &tokens_b, &tokens_c};
  const std::string db = work + "/none.sqlite";

  for (long i = 0; i < n; ++i) {
    char* out = nullptr;
    const auto* toks = Pick(token_sets);
    const size_t n_toks = rng() % 2 ? toks->size() : 0;
    loom_config* any_config = rng() % 5 == 0 && !dead_configs.empty() ? Pick(dead_configs)
                              : rng() % 7 == 0                        ? stray
                                                                      : Pick(configs);
    switch (rng() % 12) {
      case 0: {
        loom_config* c = nullptr;
        Check(loom_config_parse(&c, Pick(strings), Pick(strings), toks->data(), n_toks), "loom_config_parse");
        if (c) configs.push_back(c);
        break;
      }
      case 1: {
        loom_config* c = nullptr;
        Check(loom_config_load(&c, Pick(strings), toks->data(), n_toks), "loom_config_load");
        if (c) configs.push_back(c);
        break;
      }
      case 2: Check(loom_config_update(any_config, Pick(strings)), "loom_config_update"); break;
      case 3: Check(loom_config_to_json(any_config, rng() % 4 ? &out : nullptr), "loom_config_to_json"); break;
      case 4: Check(loom_config_to_yaml(any_config, &out), "loom_config_to_yaml"); break;
      case 5: Check(loom_config_check(rng() % 4 ? &out : nullptr, Pick(strings), Pick(strings), toks->data(), n_toks), "loom_config_check"); break;
      case 6: {
        loom_plan_options p = loom_plan_options_default();
        p.world = static_cast<int64_t>(rng() % 9) - 1;
        p.struct_size = Pick(std::vector<size_t>{sizeof(p), sizeof(size_t), 0, sizeof(p) + 8, 16});
        p.memory_budget = Pick(strings);
        Check(loom_plan_check(any_config, rng() % 3 ? &p : nullptr, &out), "loom_plan_check");
        break;
      }
      case 7: {  // destroy: live, dead again, stray, NULL
        if (configs.size() > 1 && rng() % 2) {
          const size_t k = 1 + rng() % (configs.size() - 1);
          loom_config_destroy(configs[k]);
          dead_configs.push_back(configs[k]);
          configs.erase(configs.begin() + static_cast<long>(k));
        } else {
          loom_config_destroy(any_config);
        }
        ++calls;
        break;
      }
      case 8: {
        loom_trainer* t = nullptr;
        loom_trainer_options o = loom_trainer_options_default();
        o.struct_size = Pick(std::vector<size_t>{sizeof(o), 3, sizeof(o) * 2});
        // Only refusals here (no config is trainable: no dataset): the trainer paths run in capi_test.
        Check(loom_trainer_create(&t, any_config == nullptr || rng() % 2 ? nullptr : stray, &o), "loom_trainer_create");
        Check(loom_trainer_step(reinterpret_cast<loom_trainer*>(any_config), nullptr), "loom_trainer_step");
        Check(loom_trainer_cancel(nullptr), "loom_trainer_cancel");
        loom_trainer_destroy(reinterpret_cast<loom_trainer*>(stray));
        break;
      }
      case 9: {
        loom_store* s = nullptr;
        Check(loom_store_open(&s, rng() % 2 ? db.c_str() : Pick(strings)), "loom_store_open");
        Check(loom_store_list_runs(Pick(stores), &out), "loom_store_list_runs");
        Check(loom_store_read_steps(reinterpret_cast<loom_store*>(stray), 1, -1, &out), "loom_store_read_steps");
        break;
      }
      case 10: {
        loom_launch* l = nullptr;
        loom_launch_options o = loom_launch_options_default();
        o.nproc = static_cast<int32_t>(rng() % 3) - 1;
        o.config_path = Pick(strings);
        Check(loom_launch_start(&l, rng() % 3 ? &o : nullptr), "loom_launch_start");
        if (l) {  // only a valid config path starts ranks; none here exists
          loom_launch_destroy(l);
          ++failures;
          std::fprintf(stderr, "loom_launch_start started a job from a missing config\n");
        }
        loom_launch_state st = LOOM_LAUNCH_STATE_INIT;
        Check(loom_launch_poll(nullptr, &st), "loom_launch_poll");
        break;
      }
      default: {
        loom_dataset_options d = loom_dataset_options_default();
        d.tokenizer = Pick(strings);
        d.n_inputs = rng() % 2;
        d.inputs = rng() % 2 ? nullptr : &strings[rng() % strings.size()];
        d.output = Pick(strings);
        Check(loom_dataset_build(rng() % 4 ? &d : nullptr, &out), "loom_dataset_build");
        Check(loom_dataset_preview(any_config, static_cast<int64_t>(rng() % 3) - 1, &out), "loom_dataset_preview");
      }
    }
    loom_free(out);
  }
  for (size_t k = 1; k < configs.size(); ++k) loom_config_destroy(configs[k]);
  std::printf("capi_fuzz: %ld calls, %ld refused with a status and a message, %d wrong\n", calls, errors, failures);
  return failures ? 1 : 0;
}
