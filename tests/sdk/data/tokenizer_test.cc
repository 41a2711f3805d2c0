// The C++ tokenizer against Hugging Face `tokenizers` on the real Qwen3
// tokenizer.json: token-for-token equality on mixed-language text and on the
// novel, decode round-trips, known ids, and loud errors on bad files.
#include "sdk/data/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "ops/base/error.h"
#include "sdk/data/utf8.h"
#include "tests/sdk/data/test_assets.h"

namespace loom::data {
namespace {

using loom::testing::HfEncodeFiles;
using loom::testing::NovelPath;
using loom::testing::Qwen3TokenizerPath;
using loom::testing::ReadFile;
using loom::testing::WriteTempFile;

class TokenizerTest : public loom::testing::Qwen3TokenizerSuite {
 protected:
  // Encodes `text` in C++ and in Python and compares id by id.
  static void ExpectSameAsHf(const std::string& name, const std::string& text) {
    const auto ours = tok().Encode(text);
    const auto file = WriteTempFile(name, text);
    const auto theirs = HfEncodeFiles(Qwen3TokenizerPath(), {file})[0];
    size_t i = 0;
    while (i < ours.size() && i < theirs.size() && ours[i] == theirs[i]) ++i;
    EXPECT_EQ(ours.size(), theirs.size()) << name;
    if (i < ours.size() || i < theirs.size()) {
      ADD_FAILURE() << name << ": first difference at token " << i << " of " << theirs.size() << ": ours "
                    << (i < ours.size() ? std::to_string(ours[i]) : "end") << " vs hf "
                    << (i < theirs.size() ? std::to_string(theirs[i]) : "end") << " near \""
                    << tok().Decode(std::span(theirs).subspan(i > 5 ? i - 5 : 0, std::min<size_t>(10, theirs.size() - (i > 5 ? i - 5 : 0))))
                    << "\"";
    }
    // Decoding gives back the text as the tokenizer saw it: NFC-normalized.
    EXPECT_EQ(tok().Decode(ours), NormalizeNfc(text)) << name << ": decode does not round-trip";
  }
};

std::string NovelExcerpt(size_t from_marker_len = 1500) {
  const std::string novel = ReadFile(NovelPath());
  const auto at = novel.find("Call me Ishmael.");
  EXPECT_NE(at, std::string::npos);
  return novel.substr(at, from_marker_len);
}

TEST_F(TokenizerTest, KnownIdsAndVocabulary) {
  EXPECT_EQ(tok().Encode("Hello"), std::vector<int32_t>{9707});
  EXPECT_EQ(tok().TokenToId("Hello"), 9707);
  EXPECT_EQ(tok().eos_id(), 151643);
  EXPECT_EQ(tok().TokenToId("<|endoftext|>"), 151643);
  EXPECT_EQ(tok().TokenToId("<|im_start|>"), 151644);
  EXPECT_EQ(tok().TokenToId("<|vision_start|>"), 151652);
  EXPECT_EQ(tok().TokenToId("<|image_pad|>"), 151655);
  EXPECT_EQ(tok().vocab_size(), 151669);
  EXPECT_EQ(tok().IdToToken(151644), "<|im_start|>");
  EXPECT_TRUE(tok().IsSpecial(151644));
  EXPECT_FALSE(tok().IsSpecial(9707));
  EXPECT_FALSE(tok().TokenToId("no such token at all").has_value());
  EXPECT_EQ(tok().Encode("<|im_start|>user"), (std::vector<int32_t>{151644, tok().Encode("user")[0]}));
}

TEST_F(TokenizerTest, MixedLanguageMatchesHuggingFace) {
  std::string text = NovelExcerpt();
  text +=
      "\n\n<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
      "鲸鱼是海洋中最大的哺乳动物，它们的歌声可以传到几百公里之外。《白鲸记》是赫尔曼·梅尔维尔的小说。\n"
      "クジラは海に住む哺乳類です。カタカナ、ひらがな、漢字を混ぜて書きます。ｶﾀｶﾅ（半角）も。\n"
      "고래는 바다에 사는 포유류입니다. Кит — морское млекопитающее. الحوت حيوان ثديي. व्हेल एक स्तनधारी है।\n"
      "Emoji: 🐋🐳 👍🏽 👨‍👩‍👧‍👦 🇯🇵 ❤️ ✨\n"
      "Combining: cafe\xCC\x81 vs café, A\xCC\x8A, \xE1\x84\x80\xE1\x85\xA1 (jamo), ﬁ ligature, Å\n"
      "Contractions: I'm, you're, they've, she'll, he'd, it's, DON'T, WE'LL, O'Neil's\n"
      "Numbers: 0 7 42 3.14159 -2.5e-10 1,000,000 2024-06-01 ٣٤٥ ½ ² 十二\n"
      "Code:\n```cpp\nint main(int argc, char** argv) {\n\tfor (int i = 0; i < argc; ++i) {\n"
      "\t\tstd::printf(\"%s\\n\", argv[i]);  // print\n\t}\n    return 0;\n}\n```\n"
      "def f(x):\n    return {'a': [1, 2, 3], \"b\": x ** 2}  # comment\n"
      "Whitespace:   three spaces,\t\ttabs, trailing   \n\n\n\nblank lines\r\nCRLF\r\n  \n"
      "nbsp:\xC2\xA0here, ideographic\xE3\x80\x80space, en\xE2\x80\x82space, line\xE2\x80\xA8sep\n"
      "URL https://example.com/path?q=1&r=two#frag and email a.b@c.org\n"
      "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nOK.<|im_end|><|endoftext|>"
      "<|vision_start|><|image_pad|><|image_pad|><|vision_end|>tail<|endoftext|>";
  ExpectSameAsHf("mixed.txt", text);
}

// Repeats of `c`, built with append (GCC 12 warns falsely on chained
// temporaries of std::string(n, c) + "...").
std::string Repeat(size_t n, char c) { return std::string(n, c); }
std::string Concat(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) out.append(p);
  return out;
}

TEST_F(TokenizerTest, EdgeCasesMatchHuggingFace) {
  ExpectSameAsHf("empty.txt", "");
  ExpectSameAsHf("spaces.txt", Concat({Repeat(300, ' '), "x", Repeat(5, '\n'), Repeat(1000, ' ')}));
  ExpectSameAsHf("punct.txt", "!!!???...---___===+++***" + std::string(200, '-') + "'''\"\"\"");
  ExpectSameAsHf("long_word.txt", Concat({Repeat(3000, 'a'), " ", Repeat(500, 'z'), "Q"}));
  ExpectSameAsHf("digits.txt", "1234567890123456789012345678901234567890");
  ExpectSameAsHf("specials_only.txt", "<|endoftext|><|endoftext|><|im_start|><|im_end|>");
  ExpectSameAsHf("partial_special.txt", "<|endoftext| <|im_start <|endoftext|>|> <|");
}

TEST_F(TokenizerTest, ChapterAndNovelMatchHuggingFace) {
  const std::string novel = ReadFile(NovelPath());
  const auto begin = novel.find("CHAPTER 1. Loomings.");
  const auto end = novel.find("CHAPTER 2. The Carpet-Bag.");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  ExpectSameAsHf("chapter1.txt", novel.substr(begin, end - begin));
  ExpectSameAsHf("novel.txt", novel);
}

TEST_F(TokenizerTest, DecodeRepairsCutCharacters) {
  const auto ids = tok().Encode("𝔘");  // two byte-level tokens
  ASSERT_GT(ids.size(), 1u);
  const std::string partial = tok().Decode(std::span(ids).first(1));
  EXPECT_TRUE(IsValidUtf8(partial));
  EXPECT_NE(partial.find("\xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(tok().Decode(tok().Encode("a<|im_start|>b"), /*skip_special=*/true), "ab");
  EXPECT_THROW(tok().Decode(std::vector<int32_t>{-1}), loom::Error);
  EXPECT_THROW(tok().Decode(std::vector<int32_t>{1 << 30}), loom::Error);
}

TEST_F(TokenizerTest, InvalidUtf8IsReadAsReplacementCharacter) {
  const auto ids = tok().Encode("ok\xFF\xFEok");
  EXPECT_EQ(tok().Decode(ids), "ok\xEF\xBF\xBD\xEF\xBF\xBDok");
  EXPECT_EQ(RepairUtf8("\xE2\x82"), "\xEF\xBF\xBD");  // one maximal subpart
  EXPECT_EQ(RepairUtf8("a\xE2\x82z"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(NormalizeNfc("e\xCC\x81"), "\xC3\xA9");
}

std::string WriteJson(const std::string& name, const std::string& json) { return WriteTempFile(name, json); }

TEST(TokenizerFileTest, BadFilesNameTheFileAndTheProblem) {
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      Tokenizer::FromFile(path);
      ADD_FAILURE() << "no error for " << path;
    } catch (const loom::ConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(path), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  expect_error("/nonexistent/tokenizer.json", "cannot be opened");
  expect_error(WriteJson("garbage.json", "{not json"), "not a valid JSON");
  const std::string head =
      R"({"normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
          "decoder": {"type": "ByteLevel"}, "added_tokens": [],)";
  expect_error(WriteJson("wordpiece.json", head + R"("model": {"type": "WordPiece", "vocab": {}}})"), "not BPE");
  expect_error(WriteJson("nomerges.json", head + R"("model": {"type": "BPE", "vocab": {"a": 0}}})"),
               "lacks the token for byte");
  expect_error(WriteJson("badnorm.json", R"({"normalizer": {"type": "Lowercase"}, "model": {}})"),
               "normalizer \"Lowercase\"");
}

TEST(TokenizerFileTest, MergesAsStringsOrPairsGiveTheSameIds) {
  // A tiny but complete byte-level vocabulary: all 256 bytes, then merges.
  std::string vocab;
  const auto& alphabet = ByteToUnicode();
  for (int b = 0; b < 256; ++b) vocab += "\"" + (alphabet[b] == "\"" ? "\\\"" : alphabet[b] == "\\" ? "\\\\" : alphabet[b]) + "\": " + std::to_string(b) + ", ";
  vocab += R"("lo": 256, "low": 257, "Ġlow": 258, "er": 259, "<|endoftext|>": 260)";
  auto make = [&](const std::string& merges) {
    return R"({"normalizer": {"type": "NFC"}, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
      "decoder": {"type": "ByteLevel"}, "added_tokens": [{"id": 260, "content": "<|endoftext|>", "special": true}],
      "model": {"type": "BPE", "vocab": {)" + vocab + R"(}, "merges": )" + merges + "}}";
  };
  const auto pairs = Tokenizer::FromFile(WriteJson("pairs.json", make(R"([["l","o"],["lo","w"],["e","r"],["Ġ","low"]])")));
  const auto strings = Tokenizer::FromFile(WriteJson("strings.json", make(R"(["l o","lo w","e r","Ġ low"])")));
  const auto a = pairs.Encode("lower low<|endoftext|>");
  EXPECT_EQ(a, strings.Encode("lower low<|endoftext|>"));
  EXPECT_EQ(a, (std::vector<int32_t>{257, 259, 258, 260}));
  EXPECT_EQ(pairs.Decode(a), "lower low<|endoftext|>");
  EXPECT_EQ(pairs.eos_id(), 260);
}

}  // namespace
}  // namespace loom::data
