// Generation (greedy or sampled, KV-cached) and Hugging Face export for DecoderLM.
#pragma once

#include <string>
#include <vector>

#include "models/core/generation.h"
#include "models/llm/decoder_lm.h"

namespace loom::models {

// Appends up to options.max_new_tokens tokens to `prompt` (models/core/generation.h).
std::vector<int64_t> Generate(DecoderLM& model, const std::vector<int64_t>& prompt, const GenerateOptions& options);
// Greedy with the KV cache; stops after `eos_id` when it is >= 0.
std::vector<int64_t> GreedyGenerate(DecoderLM& model, const std::vector<int64_t>& prompt,
                                    int64_t max_new_tokens, int64_t eos_id = -1);

// Writes `dir`/config.json and model.safetensors (fp32, or `dtype`), a
// directory `transformers.AutoModelForCausalLM.from_pretrained` loads.
void SaveHfModel(const DecoderLM& model, const std::string& dir,
                 at::ScalarType dtype = at::kFloat);
// The same from explicit (name, tensor) pairs, e.g. gathered FSDP shards:
// HF names, or Loom's stacked expert names (written per expert in HF layout).
void SaveHfState(const LlmConfig& config, std::vector<std::pair<std::string, at::Tensor>> state,
                 const std::string& dir, at::ScalarType dtype = at::kFloat);

}  // namespace loom::models
