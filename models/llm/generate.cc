#include "models/llm/generate.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "models/core/safetensors.h"
#include "models/llm/moe_state_adapter.h"

namespace loom::models {

std::vector<int64_t> GreedyGenerate(DecoderLM& model, const std::vector<int64_t>& prompt,
                                    int64_t max_new_tokens, int64_t eos_id) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> ids = prompt;
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    auto input = at::tensor(ids, at::kLong).unsqueeze(0);  // (1, T)
    auto logits = model.Logits({input, at::Tensor(), at::Tensor()});  // (1, T, V)
    const int64_t next = logits[0][-1].argmax().item<int64_t>();
    ids.push_back(next);
    if (eos_id >= 0 && next == eos_id) break;
  }
  return ids;
}

void SaveHfModel(const DecoderLM& model, const std::string& dir, at::ScalarType dtype) {
  SaveHfState(model.config(), model.StateForExport(), dir, dtype);
}

void SaveHfState(const LlmConfig& config, std::vector<std::pair<std::string, at::Tensor>> state,
                 const std::string& dir, at::ScalarType dtype) {
  std::filesystem::create_directories(dir);
  state = StackedExpertsToHf(std::move(state));  // FSDP's gathered state is stacked
  for (auto& [name, t] : state) t = t.to(dtype);
  SaveSafetensorsDir(dir, state);
  auto json = LlmConfigToJson(config);
  json["torch_dtype"] = dtype == at::kBFloat16 ? "bfloat16" : "float32";
  std::ofstream(std::filesystem::path(dir) / "config.json") << json.dump(2) << "\n";
}

}  // namespace loom::models
