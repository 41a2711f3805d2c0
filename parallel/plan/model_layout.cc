#include "parallel/plan/model_layout.h"

#include <string>

#include "ops/base/error.h"
#include "parallel/expert/expert_parallel.h"
#include "parallel/ulysses/ulysses_attention.h"

namespace loom::parallel {

void CheckModelLayout(const models::LlmConfig& model, int64_t sp, int64_t ep) {
  if (ep > 1 && !model.IsMoe()) {
    throw ConfigError(ErrorWithFix("parallel.ep " + std::to_string(ep) + " needs a mixture-of-experts model, and " +
                                       model.model_type + " is dense",
                                   "set parallel.ep 1, or use a qwen3_moe model"));
  }
  if (auto err = ExpertParallelLayoutError(model.num_experts, ep); !err.empty()) throw ConfigError(err);
  if (auto err = UlyssesLayoutError(model.num_attention_heads, model.num_key_value_heads, sp); !err.empty()) {
    throw ConfigError(err);
  }
}

}  // namespace loom::parallel
