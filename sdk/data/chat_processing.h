// What turns a conversation into a model's inputs, saved beside a dataset
// (<prefix>.chat.json) and beside a model trained on it (loom_chat.json in
// the exported directory), so generation renders and processes prompts as
// training did: the chat template's markers, the image processor's and the
// audio front end's options.
//
// BuildChatPrompt: a user turn (an image, a clip, text; each optional) as
// the model's prompt: ChatML with the default system turn, then
// "<|im_start|>assistant\n", placeholders expanded to the media's token
// counts, the media decoded and processed as ChatLoader does.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/core/trainable_model.h"
#include "sdk/data/conversation.h"
#include "sdk/data/image_processor.h"
#include "sdk/data/whisper_features.h"

namespace loom::data {

struct ChatProcessing {
  ChatTemplate chat;
  Qwen2VlImageOptions image;
  WhisperFeatureOptions audio;
  std::string audio_encoder = "qwen2_audio_encoder";
};

nlohmann::json ChatProcessingToJson(const ChatProcessing& p);
// A missing "template" block means the built-in one (datasets built before
// it was saved); other missing fields are a ConfigError naming `where`.
ChatProcessing ChatProcessingFromJson(const nlohmann::json& j, const std::string& where);
void WriteChatProcessing(const ChatProcessing& p, const std::string& path);
ChatProcessing ReadChatProcessing(const std::string& path);

// One media file decoded and processed as the model takes it: an image's
// patches and grid (ProcessQwen2VlImage), or a clip resampled to 16 kHz and
// its Whisper features, with the placeholder tokens it gives. DataError (or
// the decoder's error) when the file does not decode.
struct ProcessedMedia {
  at::Tensor pixel_values, grid_thw;  // images: (N, P), (3)
  at::Tensor input_features;          // clips: (n_mels, frames padded)
  int64_t frames = 0;                 // clips: real frames
  int64_t tokens = 0;                 // placeholder tokens (the encoder's output rows)
};
ProcessedMedia ProcessMedia(MediaKind kind, const std::string& path, const ChatProcessing& p);

struct ChatPrompt {
  std::vector<int64_t> ids;   // the rendered prompt, ending "<|im_start|>assistant\n"
  models::MediaInputs media;  // the image's patches and grid, the clip's features and length
  int64_t stop_id = -1;       // <|im_end|>: where the reply ends
};

// DataError naming a file that is missing or does not decode.
ChatPrompt BuildChatPrompt(const Tokenizer& tokenizer, const ChatProcessing& p, const std::string& image,
                           const std::string& audio, const std::string& text);

}  // namespace loom::data
