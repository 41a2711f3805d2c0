// KV-cache generation vs recomputing the whole prefix, side by side in one
// process: a Qwen3-shaped model (hidden 256, 4 layers, 4 heads / 2 KV heads
// of 64, vocab 8192), a 16-token prompt, 256 new greedy tokens. Runs A B A B
// (interleaved), prints each median with min / max, the ratio and whether
// the target (cached at least 5x faster) was met, and fails if the two
// produced different tokens or the target was missed.
//   generate_bench [REPEATS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <ATen/Parallel.h>

#include "models/llm/decoder_lm.h"
#include "models/llm/generate.h"

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 3;
  loom::models::LlmConfig c;
  c.model_type = "qwen3";
  c.vocab_size = 8192, c.hidden_size = 256, c.intermediate_size = 768, c.num_hidden_layers = 4;
  c.num_attention_heads = 4, c.num_key_value_heads = 2, c.head_dim = 64, c.qk_norm = true;
  c.initializer_range = 0.2;
  loom::models::DecoderLM model(c);
  model.InitWeights(1);
  std::vector<int64_t> prompt;
  for (int i = 0; i < 16; ++i) prompt.push_back((i * 977 + 13) % c.vocab_size);
  loom::models::GenerateOptions o;
  o.max_new_tokens = 256;
  std::vector<double> cached_s, uncached_s;
  std::vector<int64_t> cached_ids, uncached_ids;
  for (int r = 0; r < repeats; ++r) {
    for (bool cache : {true, false}) {
      o.kv_cache = cache;
      const auto start = std::chrono::steady_clock::now();
      auto ids = loom::models::Generate(model, prompt, o);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      (cache ? cached_s : uncached_s).push_back(s);
      (cache ? cached_ids : uncached_ids) = std::move(ids);
    }
  }
  const double a = Median(cached_s), b = Median(uncached_s), ratio = b / a;
  std::printf("generate 256 tokens after a 16-token prompt (qwen3 hidden 256, 4 layers, vocab 8192; %d threads, %d runs interleaved)\n",
              at::get_num_threads(), repeats);
  std::printf("  KV cache:        median %.3f s (min %.3f, max %.3f), %.1f tokens/s\n", a,
              *std::min_element(cached_s.begin(), cached_s.end()), *std::max_element(cached_s.begin(), cached_s.end()), 256 / a);
  std::printf("  whole prefix:    median %.3f s (min %.3f, max %.3f), %.1f tokens/s\n", b,
              *std::min_element(uncached_s.begin(), uncached_s.end()), *std::max_element(uncached_s.begin(), uncached_s.end()), 256 / b);
  const bool same = cached_ids == uncached_ids;
  std::printf("  speed-up %.2fx (target >= 5x: %s); tokens identical: %s\n", ratio, ratio >= 5 ? "met" : "NOT met", same ? "yes" : "NO");
  return same && ratio >= 5 ? 0 : 1;
}
