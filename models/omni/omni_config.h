// OmniConfig: the architecture of an omni model, its named components and
// the tokens that join them, read from and written to a model directory's
// config.json in one of two formats:
//
//   "qwen2_vl"   Hugging Face's Qwen2VLConfig (text_config + vision_config
//                + token ids; also the older layout with the text keys at the
//                top level): the Qwen2 foundation with M-RoPE and the
//                Qwen2-VL vision tower. Exports load in transformers.
//   "qwen2_audio" Hugging Face's Qwen2AudioConfig (audio_config + text_config
//                + audio_token_index): the Qwen2-Audio encoder, its projector
//                and a Qwen2 foundation. Exports load in transformers.
//   "loom_omni"  Loom's own compositions: {"model_type": "loom_omni",
//                "components": {"vision": {...}, "audio": {...}, "llm": {...}},
//                token ids},
//                each component a config.json of its registry family (any
//                decoder family as the foundation, e.g. qwen3 or qwen3_moe),
//                or {"from": DIR}: that component's architecture and weights
//                from model directory DIR (an LLM directory for "llm"; a
//                qwen2_vl, qwen2_audio or loom_omni directory for any of
//                its components), e.g. a Qwen3 checkpoint composed with
//                Qwen2-VL's vision tower. Saved, the composition writes
//                every component inline (its weights are in the directory).
//
// Parsing is strict like LlmConfig's: an unknown key, a missing component or
// a width that does not join is a ConfigError naming the file, the key and
// the fix.
#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "models/audio/audio_config.h"
#include "models/llm/llm_config.h"
#include "models/llm/mrope_positions.h"
#include "models/vision/vision_config.h"

namespace loom::models {

struct OmniConfig {
  std::string model_type = "qwen2_vl";  // the directory format: qwen2_vl | qwen2_audio | loom_omni
  LlmConfig llm;                        // the foundation ("llm")
  std::optional<Qwen2VisionConfig> vision;  // the image/video encoder ("vision"), when present
  // Placeholder and delimiter tokens of the vision modality.
  MropeTokens vision_tokens;
  int64_t vision_end_token_id = -1;
  std::optional<AudioEncoderConfig> audio;  // the audio encoder ("audio": encoder + projector), when present
  int64_t audio_token_id = -1;              // its placeholder token
  // Components given as {"from": DIR}: component -> DIR, where its weights
  // are (ComponentNamesIn). Not written by OmniConfigToJson.
  std::map<std::string, std::string> weights_from;

  bool HasVision() const { return vision.has_value(); }
  bool HasAudio() const { return audio.has_value(); }
  // Joins (the vision tower's output width is the LLM's, M-RoPE sections
  // fit the head, token ids inside the vocabulary); throws ConfigError.
  void Validate(const std::string& source) const;
  int64_t NumParameters() const;
};

// Whether config.json's model_type is an omni format (qwen2_vl, qwen2_audio, loom_omni).
bool IsOmniModelType(const std::string& model_type);
OmniConfig OmniConfigFromJson(const nlohmann::json& j, const std::string& source);
OmniConfig LoadOmniConfig(const std::string& config_json_path);
// In the config's own format (qwen2_vl: what transformers writes).
nlohmann::json OmniConfigToJson(const OmniConfig& c);

}  // namespace loom::models
