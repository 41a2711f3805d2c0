#include "models/omni/omni_generate.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace loom::models {

std::vector<int64_t> GreedyGenerateOmni(OmniModel& model, const std::vector<int64_t>& prompt, const MediaInputs& media,
                                        int64_t max_new_tokens, int64_t stop_id) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = prompt;
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    ModelInputs in;
    in.input_ids = at::tensor(ids, at::kLong).unsqueeze(0);  // (1, T)
    in.media = media;
    const int64_t next = model.Logits(in)[0][-1].argmax().item<int64_t>();
    ids.push_back(next);
    if (stop_id >= 0 && next == stop_id) break;
  }
  return ids;
}

}  // namespace loom::models
