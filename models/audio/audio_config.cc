#include "models/audio/audio_config.h"

#include "ops/base/error.h"

namespace loom::models {
namespace {

[[noreturn]] void Fail(const std::string& source, const std::string& what, const std::string& fix) {
  throw ConfigError(ErrorWithFix(source + ": " + what, fix));
}

}  // namespace

void AudioEncoderConfig::Validate(const std::string& source) const {
  for (const auto& [name, v] : {std::pair<const char*, int64_t>{"num_mel_bins", num_mel_bins}, {"d_model", d_model},
                                {"encoder_layers", encoder_layers}, {"encoder_attention_heads", encoder_attention_heads},
                                {"encoder_ffn_dim", encoder_ffn_dim}, {"max_source_positions", max_source_positions}}) {
    if (v < 1) Fail(source, std::string(name) + " = " + std::to_string(v), std::string("set ") + name + " to at least 1");
  }
  if (d_model % encoder_attention_heads != 0) {
    Fail(source, "encoder_attention_heads " + std::to_string(encoder_attention_heads) + " does not divide d_model " +
                     std::to_string(d_model),
         "pick encoder_attention_heads among the divisors of d_model");
  }
  if (pools() && max_source_positions % 2 != 0) {
    Fail(source, "max_source_positions " + std::to_string(max_source_positions) + " is odd",
         "Qwen2-Audio pools pairs of positions: use an even max_source_positions");
  }
}

int64_t AudioEncoderConfig::NumParameters() const {
  const int64_t d = d_model, f = encoder_ffn_dim;
  const int64_t layer = 4 * d /*2 norms*/ + 4 * d * d + 3 * d /*q, v, out biases*/ + d * f + f + f * d + d;
  return num_mel_bins * d * 3 + d /*conv1*/ + d * d * 3 + d /*conv2*/ + max_source_positions * d +
         encoder_layers * layer + 2 * d /*layer_norm*/;
}

AudioEncoderConfig AudioEncoderConfigFromJson(const nlohmann::json& j, const std::string& source) {
  AudioEncoderConfig c;
  try {
    c.model_type = j.value("model_type", std::string("qwen2_audio_encoder"));
    if (c.model_type != "whisper" && c.model_type != "qwen2_audio_encoder") {
      Fail(source, "audio model_type '" + c.model_type + "' is not an encoder Loom implements",
           "use a whisper or qwen2_audio_encoder config");
    }
    c.num_mel_bins = j.value("num_mel_bins", c.num_mel_bins);
    c.d_model = j.value("d_model", c.d_model);
    c.encoder_layers = j.value("encoder_layers", c.encoder_layers);
    c.encoder_attention_heads = j.value("encoder_attention_heads", c.encoder_attention_heads);
    c.encoder_ffn_dim = j.value("encoder_ffn_dim", c.encoder_ffn_dim);
    c.max_source_positions = j.value("max_source_positions", c.max_source_positions);
    c.initializer_range = j.value("init_std", j.value("initializer_range", c.initializer_range));
    const std::string act = j.value("activation_function", std::string("gelu"));
    if (act != "gelu") Fail(source, "activation_function '" + act + "' is not supported", "Whisper encoders use gelu");
    if (j.value("scale_embedding", false)) {
      Fail(source, "scale_embedding true is not supported", "set scale_embedding false (Whisper's and Qwen2-Audio's)");
    }
    for (const char* key : {"dropout", "attention_dropout", "activation_dropout"}) {
      if (j.contains(key) && j[key].is_number() && j[key].get<double>() != 0.0) {
        Fail(source, std::string(key) + " " + j[key].dump() + " is not supported", std::string("Loom trains without dropout: set ") + key + " 0");
      }
    }
  } catch (const nlohmann::json::exception& e) {
    Fail(source, std::string("malformed audio config: ") + e.what(), "fix the value's type");
  }
  c.Validate(source);
  return c;
}

nlohmann::json AudioEncoderConfigToJson(const AudioEncoderConfig& c) {
  return {{"model_type", c.model_type},
          {"num_mel_bins", c.num_mel_bins},
          {"d_model", c.d_model},
          {"encoder_layers", c.encoder_layers},
          {"encoder_attention_heads", c.encoder_attention_heads},
          {"encoder_ffn_dim", c.encoder_ffn_dim},
          {"max_source_positions", c.max_source_positions},
          {"activation_function", "gelu"},
          {"scale_embedding", false},
          {"initializer_range", c.initializer_range}};
}

}  // namespace loom::models
