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

namespace {

void ValidateImageMode(const ImageModeOptions& m, const ModelInputs& prompt) {
  if (m.start_id < 0) return;
  const auto fail = [](const std::string& what, const std::string& fix) { throw ConfigError(ErrorWithFix(what, fix)); };
  if (m.end_id < 0 || m.code_offset <= 0 || m.codes <= 0 || m.tokens <= 0)
    fail("image mode needs end_id, code_offset, codes and tokens > 0", "take them from the model's image_out config");
  if (!(m.cfg_scale >= 0) || std::isinf(m.cfg_scale))
    fail("cfg_scale " + std::to_string(m.cfg_scale) + " is not a finite value >= 0", "pass 1 (no guidance) or e.g. 3");
  if (m.cfg_scale == 1.0) return;
  if (static_cast<int64_t>(m.unconditional.size()) != prompt.input_ids.size(1))
    fail("the unconditional prompt has " + std::to_string(m.unconditional.size()) + " tokens, the prompt " +
             std::to_string(prompt.input_ids.size(1)),
         "give classifier-free guidance an unconditional prompt as long as the prompt");
  if (!prompt.media.empty())
    fail("classifier-free guidance with input media", "generate images from text prompts, or pass cfg_scale 1");
}

// Picks each new token: text from the text logits, codes in image mode
// (guided when there are two rows), the forced end of an image.
class TokenChooser {
 public:
  TokenChooser(const GenerateOptions& o, int64_t last_prompt_token)
      : o_(o), m_(o.image), generator_(at::make_generator<at::CPUGeneratorImpl>(o.sampling.seed)) {
    if (m_.start_id >= 0 && last_prompt_token == m_.start_id) codes_left_ = m_.tokens;
  }
  // last: (B, V') logits of each row's last position.
  int64_t Next(const at::Tensor& last) {
    if (end_due_) {
      end_due_ = false;
      return m_.end_id;
    }
    if (codes_left_ > 0) {
      auto codes = last.narrow(-1, m_.code_offset, m_.codes).to(at::kFloat);  // (B, N)
      auto guided = last.size(0) == 2 ? codes[1] + m_.cfg_scale * (codes[0] - codes[1]) : codes[0];
      end_due_ = --codes_left_ == 0;
      return m_.code_offset + SampleToken(guided, o_.sampling, generator_);
    }
    const auto text = m_.start_id >= 0 ? last[0].narrow(0, 0, m_.code_offset) : last[0];
    const int64_t token = SampleToken(text, o_.sampling, generator_);
    if (m_.start_id >= 0 && token == m_.start_id) codes_left_ = m_.tokens;
    return token;
  }

 private:
  const GenerateOptions& o_;
  const ImageModeOptions& m_;
  at::Generator generator_;
  int64_t codes_left_ = 0;
  bool end_due_ = false;
};

}  // namespace

std::vector<int64_t> GenerateTokens(TrainableModel& model, const LogitsFn& logits, const ModelInputs& prompt,
                                    int64_t next_position, int64_t layers, const GenerateOptions& o) {
  ValidateSampling(o.sampling);
  ValidateImageMode(o.image, prompt);
  if (o.max_new_tokens < 0)
    throw ConfigError(ErrorWithFix("max_new_tokens " + std::to_string(o.max_new_tokens) + " is negative", "pass 0 or more"));
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = IdsOf(prompt.input_ids);
  const bool guided = o.image.start_id >= 0 && o.image.cfg_scale != 1.0;
  TokenChooser choose(o, ids.empty() ? -1 : ids.back());
  // Row 0 the prompt, row 1 (guided) the unconditional prompt; both get every new token.
  std::vector<int64_t> uncond = guided ? o.image.unconditional : std::vector<int64_t>{};
  const int64_t rows = guided ? 2 : 1;
  const auto done = [&](int64_t next) {
    ids.push_back(next);
    if (guided) uncond.push_back(next);
    return o.stop_id >= 0 && next == o.stop_id;
  };
  const auto both = [&]() {
    auto cond = at::tensor(ids, at::kLong).unsqueeze(0);  // (1, T)
    return guided ? at::cat({cond, at::tensor(uncond, at::kLong).unsqueeze(0)}) : cond;
  };
  if (!o.kv_cache) {  // the reference: the whole prefix (and its media) every token
    ModelInputs in = prompt;
    for (int64_t i = 0; i < o.max_new_tokens; ++i) {
      in.input_ids = both();  // (B, T)
      in.position_ids = at::Tensor();
      if (done(choose.Next(logits(in).select(1, -1)))) break;
    }
    return ids;
  }
  model.SetAttentionBackend(std::make_shared<ops::KvCacheAttention>(layers));
  LocalAttentionAfter restore{model};
  ModelInputs in = prompt;  // the first forward: the prompt with its media
  in.input_ids = both();
  if (guided && in.position_ids.defined()) in.position_ids = at::cat({in.position_ids, in.position_ids}, -2);
  for (int64_t i = 0; i < o.max_new_tokens; ++i) {
    if (done(choose.Next(logits(in).select(1, -1)))) break;
    in = ModelInputs{};
    in.input_ids = at::full({rows, 1}, ids.back(), at::kLong);
    in.position_ids = at::full({rows, 1}, next_position + i, at::kLong);  // (B, T); M-RoPE models expand it to t = h = w
  }
  return ids;
}

}  // namespace loom::models
