// Conversations: parsing (messages and the pair formats, errors named),
// ChatML rendering and tokenization equal to transformers'
// apply_chat_template with the real Qwen3 tokenizer (tests/models/chat_oracle.py:
// the same template in Jinja, {% generation %} around replies), the
// assistant-only labels equal to its assistant-token mask, and media
// placeholders expanded to the encoder's counts.
#include "sdk/data/conversation.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "ops/base/error.h"
#include "tests/sdk/data/test_assets.h"

namespace loom::data {
namespace {

using nlohmann::json;

ChatTemplate Qwen3Markers() {  // the Qwen3 tokenizer has no Qwen2-Audio markers: three of its special tokens
  ChatTemplate t;
  t.audio_start = "<|box_start|>";
  t.audio_pad = "<|object_ref_start|>";
  t.audio_end = "<|box_end|>";
  return t;
}

const json kConversations = json::parse(R"json([
  [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "4."}],
  [{"role": "system", "content": "You answer in French."},
   {"role": "user", "content": "Hello there!"}, {"role": "assistant", "content": " Bonjour !\nÇa va ?"},
   {"role": "user", "content": "Merci."}, {"role": "assistant", "content": "De rien."}],
  [{"role": "user", "content": [{"type": "image", "image": "a.png"}, {"type": "text", "text": "Describe it."}]},
   {"role": "assistant", "content": [{"type": "text", "text": "A grinning face, 😀."}]}],
  [{"role": "user", "content": [{"type": "text", "text": "Transcribe: "}, {"type": "audio", "audio": "x.wav"},
                                {"type": "text", "text": " and "}, {"type": "image", "image": "b.png"}]},
   {"role": "assistant", "content": "Please hold.  (twice)"}]
])json");

TEST(Conversation, TokensAndLabelsEqualTransformersChatTemplate) {
  const std::string tok_path = testing::Qwen3TokenizerPath();
  const auto tok = Tokenizer::FromFile(tok_path);
  const auto chat = Qwen3Markers();
  const std::string in = testing::WriteTempFile("chat_in.json",
      json{{"audio_markers", {chat.audio_start, chat.audio_pad, chat.audio_end}}, {"conversations", kConversations}}.dump());
  const std::string out = in + ".out";
  const std::string cmd = testing::VenvPython() + " " + testing::OracleScript("chat_oracle.py") + " " + tok_path + " " +
                          in + " " + out;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json ref = json::parse(testing::ReadFile(out));
  ASSERT_EQ(ref.size(), kConversations.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    const auto conv = ParseConversation({{"messages", kConversations[i]}}, "", "conversation " + std::to_string(i));
    EXPECT_EQ(RenderChat(conv, chat), ref[i]["text"].get<std::string>()) << i;
    const auto got = TokenizeChat(conv, tok, chat, [](const ContentPart&) { return int64_t{1}; });
    EXPECT_EQ(got.ids, ref[i]["ids"].get<std::vector<int32_t>>()) << i;
    const auto mask = ref[i]["assistant_mask"].get<std::vector<int>>();
    ASSERT_EQ(got.trainable.size(), mask.size()) << i;
    int labels = 0;
    for (size_t k = 0; k < mask.size(); ++k) {
      EXPECT_EQ(got.trainable[k], mask[k]) << "conversation " << i << " token " << k;
      labels += mask[k];
    }
    EXPECT_GT(labels, 1) << i;
  }
}

TEST(Conversation, MediaPlaceholdersExpandToTheEncoderCounts) {
  const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
  const auto chat = Qwen3Markers();
  const auto conv = ParseConversation({{"messages", kConversations[3]}}, "/data", "sample");
  const auto got = TokenizeChat(conv, tok, chat, [](const ContentPart& p) {
    return p.kind == MediaKind::kAudio ? int64_t{5} : int64_t{3};
  });
  ASSERT_EQ(got.media.size(), 2u);
  EXPECT_EQ(got.media[0].kind, MediaKind::kAudio);
  EXPECT_EQ(got.media[0].path, "/data/x.wav") << "relative paths resolve against the file's directory";
  EXPECT_EQ(got.media[0].tokens, 5);
  EXPECT_EQ(got.media[1].path, "/data/b.png");
  const int32_t audio = *tok.TokenToId(chat.audio_pad), image = *tok.TokenToId(chat.image_pad);
  for (const auto& m : got.media) {
    for (int64_t k = 0; k < m.tokens; ++k) {
      EXPECT_EQ(got.ids[m.offset + k], m.kind == MediaKind::kAudio ? audio : image);
      EXPECT_EQ(got.trainable[m.offset + k], 0);
    }
  }
  EXPECT_EQ(got.ids[got.media[1].offset - 1], *tok.TokenToId(chat.vision_start));
  EXPECT_EQ(got.ids[got.media[1].offset + 3], *tok.TokenToId(chat.vision_end));
}

TEST(Conversation, PairFormatsAndErrors) {
  const auto caption = ParseConversation(json{{"image", "e/1f600.png"}, {"caption", "GRINNING FACE"}}, "/x", "l1");
  ASSERT_EQ(caption.messages.size(), 2u);
  EXPECT_EQ(caption.messages[0].role, "user");
  EXPECT_TRUE(caption.messages[0].content[0].is_media);
  EXPECT_EQ(caption.messages[0].content[0].text, "/x/e/1f600.png");
  EXPECT_EQ(caption.messages[1].content[0].text, "GRINNING FACE");
  const auto speech = ParseConversation(json{{"audio", "/abs/a.wav"}, {"transcript", "Activated."}}, "/x", "l2");
  EXPECT_EQ(speech.messages[0].content[0].kind, MediaKind::kAudio);
  EXPECT_EQ(speech.messages[0].content[0].text, "/abs/a.wav");
  const std::vector<std::pair<json, std::string>> bad = {
      {json{{"image", "a.png"}}, "chat.jsonl line 3: a sample needs \"messages\""},
      {json{{"messages", json::array()}}, "\"messages\" is not a non-empty list"},
      {json::parse(R"({"messages": [{"role": "robot", "content": "hi"}]})"), "a message has role 'robot'"},
      {json::parse(R"({"messages": [{"role": "user", "content": "hi"}]})"), "has no assistant turn"},
      {json::parse(R"({"messages": [{"role": "user", "content": [{"type": "video", "video": "v.mp4"}]},
                                   {"role": "assistant", "content": "ok"}]})"), "a content part has type 'video'"},
      {json::parse(R"({"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "ok"}]})"),
       "neither text nor a list of parts"}};
  for (const auto& [sample, want] : bad) {
    try {
      ParseConversation(sample, "", "chat.jsonl line 3");
      ADD_FAILURE() << sample.dump();
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("chat.jsonl line 3"), std::string::npos) << e.what();
    }
  }
  // A marker the tokenizer lacks is named.
  const auto tok = Tokenizer::FromFile(testing::Qwen3TokenizerPath());
  try {
    TokenizeChat(speech, tok, ChatTemplate{}, [](const ContentPart&) { return int64_t{1}; });
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("has no token <|audio_bos|>"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace loom::data
