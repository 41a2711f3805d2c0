// Conversations with images and audio, and their tokens for training.
//
// Input: one JSON object per sample (a JSONL line), either
//   {"messages": [{"role": "system" | "user" | "assistant",
//                  "content": "text" | [{"type": "text", "text": "..."},
//                                       {"type": "image", "image": "PATH"},
//                                       {"type": "audio", "audio": "PATH"}]}, ...]}
// or a pair, read as a user turn with the media and an assistant reply:
//   {"image": "PATH", "caption": "..."}   {"audio": "PATH", "transcript": "..."}
// or, for image output, a user turn with the text and an assistant reply
// that is the image:
//   {"prompt": "...", "target_image": "PATH"}
// An image in an assistant turn is an output image (MediaKind::kImageOut):
// "<|vision_start|>" + its code placeholders + "<|vision_end|>", all of
// them trainable (the model learns to open, draw and close the image).
// Relative media paths resolve against the JSONL file's directory.
//
// Rendering: ChatML as Qwen2-VL's chat template writes it (a default system
// turn "You are a helpful assistant." when the first message is not a system
// one; "<|im_start|>ROLE\n" CONTENT "<|im_end|>\n" per message; an image is
// "<|vision_start|><|image_pad|><|vision_end|>", an audio clip
// "<|audio_bos|><|AUDIO|><|audio_eos|>", the marker tokens configurable).
// Tokenization equals Hugging Face's of the whole rendered text (pieces are
// split only where special tokens split it anyway). Trainable tokens (the
// labels) are each assistant reply's content and its <|im_end|>, as
// transformers' assistant-token mask with {% generation %} around them.
// Each media placeholder is expanded to the encoder's token count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <c10/util/FunctionRef.h>
#include <nlohmann/json.hpp>

#include "sdk/data/tokenizer.h"

namespace loom::data {

enum class MediaKind { kImage, kAudio, kImageOut };

struct ContentPart {
  bool is_media = false;
  MediaKind kind = MediaKind::kImage;  // when is_media
  std::string text;                    // the text, or the media file's path
};

struct Message {
  std::string role;
  std::vector<ContentPart> content;
};

struct Conversation {
  std::vector<Message> messages;
};

// ConfigError-free: a malformed sample is a DataError naming `where` (e.g.
// "chat.jsonl line 7") and what is wrong.
Conversation ParseConversation(const nlohmann::json& sample, const std::string& base_dir, const std::string& where);

struct ChatTemplate {
  std::string default_system = "You are a helpful assistant.";  // "" = none
  std::string vision_start = "<|vision_start|>", image_pad = "<|image_pad|>", vision_end = "<|vision_end|>";
  std::string audio_start = "<|audio_bos|>", audio_pad = "<|AUDIO|>", audio_end = "<|audio_eos|>";
};

// The rendered text (for inspection and the parity oracle).
std::string RenderChat(const Conversation& conversation, const ChatTemplate& chat = {});

struct ChatTokens {
  std::vector<int32_t> ids;
  std::vector<uint8_t> trainable;  // per id: 1 = an assistant reply's token (a label)
  struct Media {
    MediaKind kind;
    std::string path;
    int64_t offset = 0;  // first placeholder id
    int64_t tokens = 0;  // placeholder ids (the encoder's output rows)
  };
  std::vector<Media> media;      // input images and clips, in order of appearance
  std::vector<Media> image_out;  // output images (kind kImageOut), in order
};

// Tokenizes the rendered conversation; `media_tokens(part)` gives each media
// part's placeholder count (e.g. from the image's size or the clip's length;
// it may throw DataError). A marker token missing from the tokenizer is a
// ConfigError naming it.
ChatTokens TokenizeChat(const Conversation& conversation, const Tokenizer& tokenizer, const ChatTemplate& chat,
                        c10::function_ref<int64_t(const ContentPart&)> media_tokens);

}  // namespace loom::data
