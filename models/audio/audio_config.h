// AudioEncoderConfig: a Whisper-style audio encoder's architecture, read from
// Hugging Face JSON: a WhisperConfig (the encoder half; decoder and
// generation keys are ignored) or a Qwen2AudioEncoderConfig (a Qwen2-Audio
// config.json's "audio_config": Whisper + average pooling). Values Loom
// cannot honour (another activation, scaled embeddings, dropout) are a
// ConfigError naming the file, the key and the fix.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace loom::models {

struct AudioEncoderConfig {  // defaults: transformers' Qwen2AudioEncoderConfig
  std::string model_type = "qwen2_audio_encoder";  // whisper | qwen2_audio_encoder
  int64_t num_mel_bins = 128;
  int64_t d_model = 1280;
  int64_t encoder_layers = 32;
  int64_t encoder_attention_heads = 20;
  int64_t encoder_ffn_dim = 5120;
  int64_t max_source_positions = 1500;  // positions after the stride-2 conv
  double initializer_range = 0.02;

  // Qwen2-Audio pools pairs of positions (AvgPool1d(2)) before the final norm.
  bool pools() const { return model_type == "qwen2_audio_encoder"; }
  int64_t head_dim() const { return d_model / encoder_attention_heads; }
  // Mel frames every clip is padded to: 2 x max_source_positions.
  int64_t input_frames() const { return 2 * max_source_positions; }
  int64_t NumParameters() const;
  void Validate(const std::string& source) const;
};

AudioEncoderConfig AudioEncoderConfigFromJson(const nlohmann::json& j, const std::string& source);
nlohmann::json AudioEncoderConfigToJson(const AudioEncoderConfig& c);

}  // namespace loom::models
