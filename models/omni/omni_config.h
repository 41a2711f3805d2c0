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
//                "image_out": a JanusVQVAEConfig (models/omni/image_out.h:
//                the generation embeddings, aligner and head; projection_dim
//                and image_token_embed_dim are the LLM's hidden_size) with
//                image_out_start_token_id / image_out_end_token_id,
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
#include "models/image/janus_vq.h"
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
  // The image decoder ("image_out": generation embeddings, aligner, head),
  // when present; its images open and close with these text tokens, and
  // code c is token id ImageCodeOffset() + c.
  std::optional<JanusVqConfig> image_out;
  int64_t image_out_start_token_id = -1, image_out_end_token_id = -1;
  // Components given as {"from": DIR}: component -> DIR, where its weights
  // are (ComponentNamesIn). Not written by OmniConfigToJson.
  std::map<std::string, std::string> weights_from;

  bool HasVision() const { return vision.has_value(); }
  bool HasAudio() const { return audio.has_value(); }
  bool HasImageOut() const { return image_out.has_value(); }
  int64_t ImageCodeOffset() const { return llm.vocab_size; }
  // Tokens of one generated image (num_patches^2), 0 without image_out.
  int64_t ImageOutTokens() const { return image_out ? image_out->num_patches * image_out->num_patches : 0; }
  // Joins (the vision tower's output width is the LLM's, M-RoPE sections
  // fit the head, token ids inside the vocabulary); throws ConfigError.
  void Validate(const std::string& source) const;
  int64_t NumParameters() const;
  int64_t ImageOutParameters() const;  // embeddings + aligner + head (0 without image_out)
};

// Whether config.json's model_type is an omni format (qwen2_vl, qwen2_audio, loom_omni).
bool IsOmniModelType(const std::string& model_type);
OmniConfig OmniConfigFromJson(const nlohmann::json& j, const std::string& source);
OmniConfig LoadOmniConfig(const std::string& config_json_path);
// In the config's own format (qwen2_vl: what transformers writes).
nlohmann::json OmniConfigToJson(const OmniConfig& c);

}  // namespace loom::models
