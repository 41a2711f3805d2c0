// Greedy decoding for omni models: the prompt's placeholders take the
// media's embeddings on every step (M-RoPE positions from the grids).
#pragma once

#include <vector>

#include "models/omni/omni_model.h"

namespace loom::models {

// Appends up to `max_new_tokens` argmax tokens to `prompt` (whose
// placeholder runs match `media`); stops after `stop_id` when it is >= 0.
// Recomputes the whole prefix each step (no KV cache), as GreedyGenerate.
std::vector<int64_t> GreedyGenerateOmni(OmniModel& model, const std::vector<int64_t>& prompt, const MediaInputs& media,
                                        int64_t max_new_tokens, int64_t stop_id = -1);

}  // namespace loom::models
