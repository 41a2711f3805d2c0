// Qwen2VisionConfig: the Qwen2-VL vision tower's architecture, read from and
// written to Hugging Face's Qwen2VLVisionConfig JSON (a Qwen2-VL
// config.json's "vision_config", or a standalone tower's config.json).
// Parsing is strict like LlmConfig's: an unknown key or a value Loom cannot
// honour is a ConfigError naming the file, the key and the fix.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace loom::models {

struct Qwen2VisionConfig {  // defaults: transformers' Qwen2VLVisionConfig
  int64_t depth = 32;
  int64_t embed_dim = 1280;     // width inside the tower
  int64_t hidden_size = 3584;   // width after the patch merger (the LLM's)
  int64_t num_heads = 16;
  double mlp_ratio = 4;
  int64_t in_channels = 3;
  int64_t patch_size = 14;
  int64_t spatial_merge_size = 2;
  int64_t temporal_patch_size = 2;
  double initializer_range = 0.02;

  int64_t head_dim() const { return embed_dim / num_heads; }
  int64_t mlp_dim() const { return static_cast<int64_t>(static_cast<double>(embed_dim) * mlp_ratio); }
  // Elements of one flattened patch row: C x temporal_patch x patch x patch.
  int64_t patch_dim() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
  int64_t merge_units() const { return spatial_merge_size * spatial_merge_size; }
  // Parameters of a tower of this config.
  int64_t NumParameters() const;
  // Heads divide embed_dim, head_dim divisible by 4 (2-D rotary), ...
  void Validate(const std::string& source) const;
};

Qwen2VisionConfig Qwen2VisionConfigFromJson(const nlohmann::json& j, const std::string& source);
nlohmann::json Qwen2VisionConfigToJson(const Qwen2VisionConfig& c);

}  // namespace loom::models
