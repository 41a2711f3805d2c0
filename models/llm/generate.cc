#include "models/llm/generate.h"

#include <filesystem>
#include <fstream>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "models/core/safetensors.h"
#include "models/llm/moe_state_adapter.h"

namespace loom::models {

std::vector<int64_t> Generate(DecoderLM& model, const std::vector<int64_t>& prompt, const GenerateOptions& options) {
  ModelInputs in;
  in.input_ids = at::tensor(prompt, at::kLong).unsqueeze(0);  // (1, T)
  return GenerateTokens(model, [&model](const ModelInputs& x) { return model.Logits(x); }, in,
                        static_cast<int64_t>(prompt.size()), model.config().num_hidden_layers, options);
}

std::vector<int64_t> GreedyGenerate(DecoderLM& model, const std::vector<int64_t>& prompt,
                                    int64_t max_new_tokens, int64_t eos_id) {
  GenerateOptions o;
  o.max_new_tokens = max_new_tokens;
  o.stop_id = eos_id;
  return Generate(model, prompt, o);
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
