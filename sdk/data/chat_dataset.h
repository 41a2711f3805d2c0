// The conversation dataset: tokenized conversations (conversation.h) with
// their labels and media, built once by `loom data build --format chat` and
// packed into omni training batches by ChatLoader (chat_loader.h).
//
// On disk, for a prefix:
//   <prefix>.tokens/.docs/.json  a token dataset (token_dataset.h): each
//                                conversation's ids (placeholders expanded),
//                                then eos;
//   <prefix>.chat.json           {"format": "loom.chat", "version": 1,
//                                 "markers": the placeholder token ids,
//                                 "template": the markers' strings,
//                                 "image": the processor options,
//                                 "audio": {"n_mels", "encoder"},
//                                 "image_tokenizer": {"dir", "num_embeddings",
//                                 "tokens"} (with output images),
//                                 "samples": per document {"labels": [[begin,
//                                 end), ...] trainable id ranges, "media":
//                                 [{"kind", "path", "offset", "tokens"}],
//                                 "image_out": [{"path", "offset", "tokens",
//                                 "codes"}]}}.
// Output images (an assistant turn's) are encoded to codes when built, by
// the image tokenizer (image_codes.h); the stream holds placeholders the
// loader replaces with the codes' token ids.
// Media stay files (paths resolved when built); the loader decodes and
// processes them, checking each still gives its stored token count.
//
// Token counts: an image's are SmartResize's grid / merge^2 (from its
// size); a clip's are the audio encoder's rows for its Whisper frames
// (ceil(samples at 16 kHz / 160), at most 3000): pooled twice for
// qwen2_audio_encoder (AudioOutputLengths), once for whisper.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sdk/data/chat_processing.h"
#include "sdk/data/conversation.h"
#include "sdk/data/image_processor.h"
#include "sdk/data/token_dataset.h"
#include "sdk/data/whisper_features.h"

namespace loom::data {

struct ChatMarkers {  // token ids of the chat template's media markers (-1: not in the tokenizer)
  int32_t image_pad = -1, vision_start = -1, vision_end = -1;
  int32_t audio_pad = -1, audio_start = -1, audio_end = -1;
};

struct ImageOutSample {
  std::string path;
  int64_t offset = 0;          // first placeholder id within the document
  std::vector<int32_t> codes;  // the image tokenizer's codes, one per placeholder
};

struct ChatSample {
  std::vector<std::pair<int64_t, int64_t>> labels;  // trainable id ranges [begin, end) within the document
  std::vector<ChatTokens::Media> media;
  std::vector<ImageOutSample> image_out;  // output images
};

// The image tokenizer a dataset's output images were encoded with.
struct ImageTokenizerInfo {
  std::string dir;             // "" when the dataset has no output images
  int64_t num_embeddings = 0;  // codes
  int64_t tokens = 0;          // codes per image
};

class ChatDataset {
 public:
  // ConfigError naming the file and the fix when a part is missing or disagrees.
  static ChatDataset Open(const std::string& prefix);
  // Whether <prefix>.chat.json exists (a token dataset without it is text).
  static bool Exists(const std::string& prefix);

  const TokenDataset& tokens() const { return tokens_; }
  const ChatSample& sample(int64_t i) const { return samples_.at(static_cast<size_t>(i)); }
  int64_t n_docs() const { return tokens_.n_docs(); }
  const ChatMarkers& markers() const { return markers_; }
  const Qwen2VlImageOptions& image_options() const { return processing_.image; }
  const WhisperFeatureOptions& audio_options() const { return processing_.audio; }
  const std::string& audio_encoder() const { return processing_.audio_encoder; }
  const ImageTokenizerInfo& image_tokenizer() const { return image_tokenizer_; }
  bool HasImageOut() const { return !image_tokenizer_.dir.empty(); }
  // The template and processors it was built with (saved beside an export).
  const ChatProcessing& processing() const { return processing_; }

 private:
  explicit ChatDataset(TokenDataset tokens) : tokens_(std::move(tokens)) {}
  TokenDataset tokens_;
  std::vector<ChatSample> samples_;
  ChatMarkers markers_;
  ChatProcessing processing_;
  ImageTokenizerInfo image_tokenizer_;
};

struct ChatBuildOptions {
  std::vector<std::string> inputs;  // JSONL files (conversation.h formats)
  std::string output;               // prefix; with eval_fraction > 0: <output>-train and <output>-eval
  double eval_fraction = 0.0;
  ChatTemplate chat;
  Qwen2VlImageOptions image;
  WhisperFeatureOptions audio;
  std::string audio_encoder = "qwen2_audio_encoder";  // qwen2_audio_encoder | whisper
  // A janus_vqgan directory that encodes output images (assistant images,
  // {"prompt", "target_image"} samples) to codes; required when there are any.
  std::string image_tokenizer;
};

struct ChatBuildReport {
  std::vector<std::string> prefixes;
  int64_t n_samples = 0, n_tokens = 0, n_images = 0, n_clips = 0, n_images_out = 0, n_skipped = 0;
  std::vector<std::pair<std::string, int64_t>> skipped_by_reason;  // reason -> count
  std::vector<std::string> first_issues;                           // "file line N: why", the first 20
};

// The token count of a media file, as the builder and the loader compute it.
int64_t ImageTokens(const std::string& path, const Qwen2VlImageOptions& options);
int64_t AudioTokens(const std::string& path, const WhisperFeatureOptions& options, const std::string& audio_encoder);

// Bad samples (malformed JSON, a missing or corrupt media file, ...) are
// skipped and counted by reason; a dataset left empty is a ConfigError naming
// the first issues.
ChatBuildReport BuildChatDataset(const Tokenizer& tokenizer, const ChatBuildOptions& options);

}  // namespace loom::data
