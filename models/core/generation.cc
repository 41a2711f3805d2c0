#include "models/core/generation.h"

#include <cmath>
#include <limits>
#include <memory>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "ops/attention/kv_cache.h"
#include "ops/base/error.h"

namespace loom::models {
namespace {

// Puts LocalAttention back however the loop ends.
struct LocalAttentionAfter {
  TrainableModel& model;
  ~LocalAttentionAfter() { model.SetAttentionBackend(std::make_shared<ops::LocalAttention>()); }
};

std::vector<int64_t> IdsOf(const at::Tensor& ids) {
  const auto flat = ids.reshape({-1}).to(at::kLong).contiguous();
  return {flat.data_ptr<int64_t>(), flat.data_ptr<int64_t>() + flat.numel()};
}

}  // namespace

void ValidateSampling(const SamplingOptions& o) {
  if (!(o.temperature >= 0) || std::isinf(o.temperature))
    throw ConfigError(ErrorWithFix("temperature " + std::to_string(o.temperature) + " is not a finite value >= 0",
                                   "pass 0 for greedy decoding or a positive temperature (e.g. 0.8)"));
  if (o.top_k < 0)
    throw ConfigError(ErrorWithFix("top_k " + std::to_string(o.top_k) + " is negative", "pass 0 (all tokens) or a positive k"));
  if (!(o.top_p > 0 && o.top_p <= 1))
    throw ConfigError(ErrorWithFix("top_p " + std::to_string(o.top_p) + " is outside (0, 1]", "pass 1 (all tokens) or a fraction like 0.9"));
}

int64_t SampleToken(const at::Tensor& logits, const SamplingOptions& o, at::Generator& generator) {
  if (o.temperature <= 0) return logits.argmax().item<int64_t>();
  const double minus_inf = -std::numeric_limits<double>::infinity();
  auto scaled = logits.to(at::kFloat) / o.temperature;  // (V)
  if (o.top_k > 0 && o.top_k < scaled.size(0)) {
    const auto kth = std::get<0>(scaled.topk(o.top_k)).min();
    scaled = scaled.masked_fill(scaled < kth, minus_inf);
  }
  if (o.top_p < 1.0) {
    auto [sorted, order] = scaled.sort(/*dim=*/0, /*descending=*/true);
    const auto probs = sorted.softmax(0);
    // Drop a token once the more likely ones already reach top_p (the first always stays).
    const auto drop = (probs.cumsum(0) - probs) >= o.top_p;
    scaled = at::full_like(scaled, minus_inf).scatter(0, order, sorted.masked_fill(drop, minus_inf));
  }
  return at::multinomial(scaled.softmax(0), 1, /*replacement=*/false, generator).item<int64_t>();
}

std::vector<int64_t> GenerateTokens(TrainableModel& model, const LogitsFn& logits, const ModelInputs& prompt,
                                    int64_t next_position, int64_t layers, const GenerateOptions& o) {
  ValidateSampling(o.sampling);
  if (o.max_new_tokens < 0)
    throw ConfigError(ErrorWithFix("max_new_tokens " + std::to_string(o.max_new_tokens) + " is negative", "pass 0 or more"));
  torch::NoGradGuard no_grad;
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o.sampling.seed);
  std::vector<int64_t> ids = IdsOf(prompt.input_ids);
  const auto done = [&](int64_t next) {
    ids.push_back(next);
    return o.stop_id >= 0 && next == o.stop_id;
  };
  if (!o.kv_cache) {  // the reference: the whole prefix (and its media) every token
    ModelInputs in = prompt;
    for (int64_t i = 0; i < o.max_new_tokens; ++i) {
      in.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);  // (1, T)
      in.position_ids = at::Tensor();
      if (done(SampleToken(logits(in)[0][-1], o.sampling, generator))) break;
    }
    return ids;
  }
  model.SetAttentionBackend(std::make_shared<ops::KvCacheAttention>(layers));
  LocalAttentionAfter restore{model};
  ModelInputs in = prompt;  // the first forward: the prompt with its media
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    if (done(SampleToken(logits(in)[0][-1], o.sampling, generator))) break;
    in = ModelInputs{};
    in.input_ids = at::full({1, 1}, ids.back(), at::kLong);
    in.position_ids = at::full({1, 1}, next_position + i, at::kLong);  // (B, T); M-RoPE models expand it to t = h = w
  }
  return ids;
}

}  // namespace loom::models
