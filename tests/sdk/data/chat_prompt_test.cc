// BuildChatPrompt on real files: the prompt is exactly the training
// tokenization of the same user turn followed by "<|im_start|>assistant\n"
// (so a reply continues as in training), the media are processed as the
// loader does, the processing options survive a file round trip, and a
// missing file is a DataError naming it.
#include "sdk/data/chat_processing.h"

#include <gtest/gtest.h>

#include "ops/base/error.h"
#include "sdk/data/audio_decode.h"
#include "sdk/data/chat_dataset.h"
#include "sdk/data/image_decode.h"
#include "tests/sdk/data/test_assets.h"

namespace loom::data {
namespace {

TEST(ChatPrompt, EqualsTheTrainingTokensOfTheUserTurnThenTheAssistantHeader) {
  const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
  ChatProcessing p;
  p.chat.audio_start = "<|box_start|>", p.chat.audio_pad = "<|object_ref_start|>", p.chat.audio_end = "<|box_end|>";
  p.image.max_pixels = 112 * 112;
  const std::string root = std::string(LOOM_SOURCE_DIR) + "/.cache/assets";
  const std::string png = root + "/emoji/img/google/64/1f600.png";
  const std::string wav = root + "/speech/en_US_f_Allison/activated.wav";
  const auto prompt = BuildChatPrompt(tok, p, png, wav, "What is this?");
  // The same turn with a reply, tokenized as the dataset builder does.
  const auto sample = nlohmann::json{{"messages",
                                      {{{"role", "user"},
                                        {"content",
                                         {{{"type", "image"}, {"image", png}},
                                          {{"type", "audio"}, {"audio", wav}},
                                          {{"type", "text"}, {"text", "What is this?"}}}}},
                                       {{"role", "assistant"}, {"content", "grinning face"}}}}};
  const auto full = TokenizeChat(ParseConversation(sample, "/", "sample"), tok, p.chat, [&](const ContentPart& part) -> int64_t {
    return part.kind == MediaKind::kImage ? ImageTokens(part.text, p.image) : AudioTokens(part.text, p.audio, p.audio_encoder);
  });
  ASSERT_LT(prompt.ids.size(), full.ids.size());
  for (size_t i = 0; i < prompt.ids.size(); ++i) ASSERT_EQ(prompt.ids[i], full.ids[i]) << "position " << i;
  EXPECT_EQ(full.trainable[prompt.ids.size()], 1) << "the reply starts right after the prompt";
  EXPECT_EQ(prompt.stop_id, *tok.TokenToId("<|im_end|>"));
  // Media as the loader gives them.
  const auto image = ProcessQwen2VlImage(DecodeImageFile(png), p.image);
  EXPECT_TRUE(prompt.media.pixel_values.equal(image.pixel_values));
  EXPECT_EQ(prompt.media.image_grid_thw.sizes(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(prompt.media.input_features.size(0), 1);
  EXPECT_EQ(prompt.media.input_features.size(1), 80);
  EXPECT_EQ((at::tensor(prompt.ids) == *tok.TokenToId("<|object_ref_start|>")).sum().item<int64_t>(),
            AudioTokens(wav, p.audio, p.audio_encoder));
  // Options round trip.
  const std::string file = testing::TempDir("chat_prompt") + "/loom_chat.json";
  WriteChatProcessing(p, file);
  const auto back = ReadChatProcessing(file);
  EXPECT_EQ(back.chat.audio_pad, "<|object_ref_start|>");
  EXPECT_EQ(back.image.max_pixels, 112 * 112);
  EXPECT_EQ(back.audio_encoder, "qwen2_audio_encoder");
  // Errors.
  EXPECT_THROW(BuildChatPrompt(tok, p, root + "/missing.png", "", ""), DataError);
  EXPECT_THROW(BuildChatPrompt(tok, p, "", "", ""), ConfigError);
  EXPECT_THROW(ReadChatProcessing(testing::TempDir("chat_prompt_none") + "/nothing.json"), ConfigError);
}

}  // namespace
}  // namespace loom::data
