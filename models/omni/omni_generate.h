// Greedy decoding for omni models: the prompt's placeholders take the
// media's embeddings on every step (M-RoPE positions from the grids).
#pragma once

#include <vector>

#include "models/core/generation.h"
#include "models/omni/omni_model.h"

namespace loom::models {

// Appends up to options.max_new_tokens tokens to `prompt` (whose
// placeholder runs match `media`): the prompt and its media run once, then
// one token at a time with the KV cache (options.kv_cache), each new token
// at the prompt's largest M-RoPE position + 1 + i, as transformers' Qwen2-VL.
// With an image decoder, generation runs over ExtendedLogits in image mode
// (options.image's start, end, offset, codes and tokens set from the
// config; its cfg_scale and unconditional prompt kept): after the image
// start token, num_patches^2 codes (ids V + c), then the end token.
std::vector<int64_t> GenerateOmni(OmniModel& model, const std::vector<int64_t>& prompt, const MediaInputs& media,
                                  const GenerateOptions& options);
// Greedy, cached; stops after `stop_id` when it is >= 0.
std::vector<int64_t> GreedyGenerateOmni(OmniModel& model, const std::vector<int64_t>& prompt, const MediaInputs& media,
                                        int64_t max_new_tokens, int64_t stop_id = -1);

}  // namespace loom::models
