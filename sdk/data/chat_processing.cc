#include "sdk/data/chat_processing.h"

#include <fstream>

#include <ATen/ATen.h>

#include "models/audio/audio_encoder.h"
#include "ops/base/error.h"
#include "sdk/data/audio_decode.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/image_decode.h"

namespace loom::data {

using json = nlohmann::json;

json ChatProcessingToJson(const ChatProcessing& p) {
  const auto& c = p.chat;
  return {{"template",
           {{"default_system", c.default_system}, {"vision_start", c.vision_start}, {"image_pad", c.image_pad},
            {"vision_end", c.vision_end}, {"audio_start", c.audio_start}, {"audio_pad", c.audio_pad},
            {"audio_end", c.audio_end}}},
          {"image",
           {{"patch_size", p.image.patch_size},
            {"merge_size", p.image.merge_size},
            {"temporal_patch_size", p.image.temporal_patch_size},
            {"min_pixels", p.image.min_pixels},
            {"max_pixels", p.image.max_pixels}}},
          {"audio", {{"n_mels", p.audio.n_mels}, {"encoder", p.audio_encoder}}}};
}

ChatProcessing ChatProcessingFromJson(const json& j, const std::string& where) {
  ChatProcessing p;
  try {
    if (j.contains("template")) {
      const auto& t = j.at("template");
      p.chat.default_system = t.at("default_system");
      p.chat.vision_start = t.at("vision_start"), p.chat.image_pad = t.at("image_pad");
      p.chat.vision_end = t.at("vision_end");
      p.chat.audio_start = t.at("audio_start"), p.chat.audio_pad = t.at("audio_pad");
      p.chat.audio_end = t.at("audio_end");
    }
    const auto& img = j.at("image");
    p.image.patch_size = img.at("patch_size"), p.image.merge_size = img.at("merge_size");
    p.image.temporal_patch_size = img.at("temporal_patch_size");
    p.image.min_pixels = img.at("min_pixels"), p.image.max_pixels = img.at("max_pixels");
    p.audio.n_mels = j.at("audio").at("n_mels");
    p.audio_encoder = j.at("audio").at("encoder");
  } catch (const json::exception& e) {
    throw ConfigError(ErrorWithFix(where + ": " + e.what(), "rebuild the dataset with `loom data build --format chat`"));
  }
  return p;
}

void WriteChatProcessing(const ChatProcessing& p, const std::string& path) {
  std::ofstream out(path);
  if (!out) throw Error("cannot write " + path);
  out << ChatProcessingToJson(p).dump(2) << "\n";
}

ChatProcessing ReadChatProcessing(const std::string& path) {
  std::ifstream in(path);
  const auto j = in ? json::parse(in, nullptr, false) : json();
  if (!j.is_object()) {
    throw ConfigError(ErrorWithFix("cannot read " + path, "export the model from a run on a chat dataset"));
  }
  return ChatProcessingFromJson(j, path);
}

ProcessedMedia ProcessMedia(MediaKind kind, const std::string& path, const ChatProcessing& p) {
  ProcessedMedia out;
  if (kind == MediaKind::kImage) {
    auto image = ProcessQwen2VlImage(DecodeImageFile(path), p.image);
    out.tokens = image.tokens();
    out.pixel_values = image.pixel_values;
    out.grid_thw = image.grid_thw;
    return out;
  }
  const auto wave = DecodeAudioFile(path);
  auto mel = WhisperLogMel(Resample(wave.samples, wave.sample_rate, p.audio.sampling_rate), p.audio);
  models::AudioEncoderConfig encoder;
  encoder.model_type = p.audio_encoder;
  out.tokens = models::AudioOutputLengths(encoder, at::tensor({mel.frames}, at::kLong)).second.item<int64_t>();
  out.input_features = mel.input_features;
  out.frames = mel.frames;
  return out;
}

ChatPrompt BuildChatPrompt(const Tokenizer& tokenizer, const ChatProcessing& p, const std::string& image,
                           const std::string& audio, const std::string& text) {
  Message user{"user", {}};
  if (!image.empty()) user.content.push_back({true, MediaKind::kImage, image});
  if (!audio.empty()) user.content.push_back({true, MediaKind::kAudio, audio});
  if (!text.empty()) user.content.push_back({false, MediaKind::kImage, text});
  if (user.content.empty()) {
    throw ConfigError(ErrorWithFix("an empty prompt", "pass --image, --audio and/or --prompt"));
  }
  ChatPrompt out;
  std::vector<at::Tensor> features;
  const auto tokens = TokenizeChat(Conversation{{user}}, tokenizer, p.chat, [&](const ContentPart& part) -> int64_t {
    const auto m = ProcessMedia(part.kind, part.text, p);
    if (part.kind == MediaKind::kImage) {
      out.media.pixel_values = m.pixel_values;
      out.media.image_grid_thw = m.grid_thw.unsqueeze(0);
    } else {
      out.media.input_features = m.input_features.unsqueeze(0);
      out.media.feature_lengths = at::tensor({m.frames}, at::kLong);
    }
    return m.tokens;
  });
  for (int32_t id : tokens.ids) out.ids.push_back(id);
  // The generation prompt: special tokens split the text anyway, so encoding it apart is exact.
  for (int32_t id : tokenizer.Encode("<|im_start|>assistant\n")) out.ids.push_back(id);
  const auto end = tokenizer.Encode("<|im_end|>");
  out.stop_id = end.size() == 1 ? end[0] : -1;
  return out;
}

}  // namespace loom::data
