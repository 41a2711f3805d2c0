#include "models/omni/omni_generate.h"

#include <ATen/ATen.h>

namespace loom::models {

std::vector<int64_t> GenerateOmni(OmniModel& model, const std::vector<int64_t>& prompt, const MediaInputs& media,
                                  const GenerateOptions& options) {
  ModelInputs in;
  in.input_ids = at::tensor(prompt, at::kLong).unsqueeze(0);  // (1, T)
  in.media = media;
  const at::Tensor positions = model.PositionIds(in);  // (3, 1, T), or undefined: 0 .. T-1
  const int64_t next = positions.defined() ? positions.max().item<int64_t>() + 1 : static_cast<int64_t>(prompt.size());
  const auto& c = model.config();
  if (!c.HasImageOut()) {
    return GenerateTokens(model, [&model](const ModelInputs& x) { return model.Logits(x); }, in, next,
                          c.llm.num_hidden_layers, options);
  }
  GenerateOptions o = options;
  o.image.start_id = c.image_out_start_token_id;
  o.image.end_id = c.image_out_end_token_id;
  o.image.code_offset = c.ImageCodeOffset();
  o.image.codes = c.image_out->num_embeddings;
  o.image.tokens = c.ImageOutTokens();
  return GenerateTokens(model, [&model](const ModelInputs& x) { return model.ExtendedLogits(x); }, in, next,
                        c.llm.num_hidden_layers, o);
}

std::vector<int64_t> GreedyGenerateOmni(OmniModel& model, const std::vector<int64_t>& prompt, const MediaInputs& media,
                                        int64_t max_new_tokens, int64_t stop_id) {
  GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.stop_id = stop_id;
  return GenerateOmni(model, prompt, media, o);
}

}  // namespace loom::models
