// Autoregressive generation for any TrainableModel: sampling (greedy,
// temperature, top-k, top-p) and the decoding loop, with a KV cache
// (ops::KvCacheAttention installed as the model's attention backend: the
// prompt runs once, then one position per new token) or without (the whole
// prefix every token: the reference the cache is tested against).
// Single process; the model's attention backend is LocalAttention afterwards.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/util/FunctionRef.h>

#include "models/core/trainable_model.h"

namespace loom::models {

struct SamplingOptions {
  double temperature = 0;  // <= 0: greedy (argmax); else softmax(logits / temperature)
  int64_t top_k = 0;       // keep only the k most likely tokens (0: all)
  double top_p = 1.0;      // keep the smallest set whose probability reaches top_p (1: all)
  uint64_t seed = 0;       // the sampler's generator seed (same seed, same tokens)
};

// Image mode, for models with an image decoder whose logits cover an
// extended vocabulary [0, code_offset) text, [code_offset, + codes) image
// codes (OmniModel::ExtendedLogits). Text tokens are sampled from the text
// part; after start_id (sampled, or the prompt's last token) the next
// `tokens` tokens are codes sampled from the code part, then end_id is
// appended and text mode resumes.
struct ImageModeOptions {
  int64_t start_id = -1;    // < 0: no image mode (the whole logits are text)
  int64_t end_id = -1;
  int64_t code_offset = 0;  // code c is token code_offset + c
  int64_t codes = 0;        // N
  int64_t tokens = 0;       // codes per image
  // Classifier-free guidance on the codes: logits u + cfg_scale x (c - u) of
  // the conditional row c and the unconditional row u, both in one batch
  // (1: off). `unconditional` is the prompt without its condition (as long
  // as the prompt; e.g. its caption tokens replaced by padding).
  double cfg_scale = 1.0;
  std::vector<int64_t> unconditional;
};

struct GenerateOptions {
  int64_t max_new_tokens = 32;
  int64_t stop_id = -1;  // stop after this token (>= 0)
  SamplingOptions sampling{};
  bool kv_cache = true;
  ImageModeOptions image{};
};

// ConfigError naming the option and the fix for a temperature < 0, a top_k
// < 0 or a top_p outside (0, 1].
void ValidateSampling(const SamplingOptions& o);

// The next token from one position's logits (V).
int64_t SampleToken(const at::Tensor& logits, const SamplingOptions& o, at::Generator& generator);

// The forward a generator calls: logits (B, T, V) of `in` (a per-call
// reference: nothing keeps it); B = 2 under classifier-free guidance.
using LogitsFn = c10::function_ref<at::Tensor(const ModelInputs& in)>;

// Appends up to max_new_tokens to `prompt.input_ids` (1, T). `next_position`
// is the position id of the first new token (T for plain RoPE; M-RoPE: the
// prompt's largest position + 1); `layers` the model's decoder layer count.
// The prompt's media and positions are used by the first forward only.
// ConfigError naming the option for an inconsistent image mode (guidance
// with media, an unconditional prompt of another length, ...).
std::vector<int64_t> GenerateTokens(TrainableModel& model, const LogitsFn& logits, const ModelInputs& prompt,
                                    int64_t next_position, int64_t layers, const GenerateOptions& options);

}  // namespace loom::models
