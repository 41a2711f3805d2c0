// Building and opening tokenized datasets: JSONL with bad lines (counted,
// reported by line), plain text (paragraph merging), the eval split, and
// errors that name the fix.
#include "sdk/data/token_dataset.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ops/base/error.h"
#include "sdk/data/dataset_builder.h"
#include "tests/sdk/data/test_assets.h"

namespace loom::data {
namespace {

using loom::testing::NovelPath;
using loom::testing::Qwen3TokenizerPath;
using loom::testing::ReadFile;
using loom::testing::TempDir;
using loom::testing::WriteTempFile;

class TokenDatasetTest : public loom::testing::Qwen3TokenizerSuite {
 protected:
  // Expects document `i` of `ds` to be the tokens of `text` then eos.
  static void ExpectDoc(const TokenDataset& ds, int64_t i, const std::string& text) {
    auto want = tok().Encode(text);
    want.push_back(tok().eos_id());
    const auto got = ds.Doc(i);
    EXPECT_EQ(std::vector<int32_t>(got.begin(), got.end()), want) << "document " << i;
  }
};

TEST_F(TokenDatasetTest, JsonlWithBadLinesIsCountedAndReported) {
  const std::string input = WriteTempFile("in.jsonl",
                                          "{\"text\": \"Call me Ishmael.\"}\n"          // 1 ok
                                          "{\"text\": \"Some years ago\"\n"             // 2 invalid JSON
                                          "\n"                                         // 3 blank: ignored
                                          "{\"body\": \"no text field\"}\n"            // 4 missing field
                                          "{\"text\": 42}\n"                           // 5 not a string
                                          "{\"text\": \"\"}\n"                         // 6 empty
                                          "[1, 2]\n"                                   // 7 not an object
                                          "{\"text\": \"鲸鱼 <|im_start|> whale\", \"id\": 7}\n");  // 8 ok
  DatasetBuildOptions options;
  options.inputs = {input, "/nonexistent/input.jsonl"};
  options.output = TempDir("out") + "/ds";
  const auto report = BuildTokenDataset(tok(), options);
  EXPECT_EQ(report.n_docs, 2);
  EXPECT_EQ(report.n_skipped, 6);
  ASSERT_EQ(report.issues.size(), 6u);
  const std::vector<std::pair<int64_t, std::string>> want = {
      {2, "invalid JSON"}, {4, "no field \"text\""}, {5, "not a string"}, {6, "is empty"}, {7, "no field"}, {0, "cannot open"}};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(report.issues[i].line, want[i].first) << i;
    EXPECT_NE(report.issues[i].reason.find(want[i].second), std::string::npos) << report.issues[i].reason;
  }
  EXPECT_EQ(report.issues[5].file, "/nonexistent/input.jsonl");

  const auto ds = TokenDataset::Open(options.output);
  EXPECT_EQ(ds.n_docs(), 2);
  EXPECT_EQ(ds.n_tokens(), report.n_tokens);
  EXPECT_EQ(ds.info().eos_id, 151643);
  EXPECT_EQ(ds.info().vocab_size, tok().vocab_size());
  EXPECT_EQ(ds.info().tokenizer, Qwen3TokenizerPath());
  ExpectDoc(ds, 0, "Call me Ishmael.");
  ExpectDoc(ds, 1, "鲸鱼 <|im_start|> whale");
  EXPECT_EQ(std::filesystem::file_size(options.output + ".tokens"), static_cast<uintmax_t>(ds.n_tokens()) * 4);
  EXPECT_EQ(std::filesystem::file_size(options.output + ".docs"), static_cast<uintmax_t>(ds.n_docs() + 1) * 8);
}

TEST_F(TokenDatasetTest, JsonlTextFieldIsConfigurable) {
  DatasetBuildOptions options;
  options.inputs = {WriteTempFile("in.data", "{\"content\": \"first\"}\n{\"content\": \"second\"}\n")};
  options.format = InputFormat::kJsonl;
  options.text_field = "content";
  options.output = TempDir("out") + "/ds";
  const auto report = BuildTokenDataset(tok(), options);
  EXPECT_EQ(report.n_skipped, 0);
  const auto ds = TokenDataset::Open(options.output);
  ASSERT_EQ(ds.n_docs(), 2);
  ExpectDoc(ds, 1, "second");
}

TEST_F(TokenDatasetTest, TextParagraphsAreMergedUpToTheMinimum) {
  const std::string text = "Title\r\n\r\nA.\n\nB b.\n  \nA longer paragraph\nwith two lines.\n\n\n\nEnd.";
  EXPECT_EQ(SplitTextDocuments(text, 0),
            (std::vector<std::string>{"Title", "A.", "B b.", "A longer paragraph\nwith two lines.", "End."}));
  EXPECT_EQ(SplitTextDocuments(text, 10),
            (std::vector<std::string>{"Title\n\nA.\n\nB b.", "A longer paragraph\nwith two lines.", "End."}));
  EXPECT_TRUE(SplitTextDocuments("\n\n  \n", 100).empty());
}

TEST_F(TokenDatasetTest, NovelAsTextRoundTrips) {
  DatasetBuildOptions options;
  options.inputs = {NovelPath()};
  options.output = TempDir("out") + "/novel";
  options.min_doc_chars = 2000;
  const auto report = BuildTokenDataset(tok(), options);
  const auto ds = TokenDataset::Open(options.output);
  std::string novel = ReadFile(NovelPath());
  const auto docs = SplitTextDocuments(novel.substr(3), options.min_doc_chars);  // without the BOM
  ASSERT_EQ(ds.n_docs(), static_cast<int64_t>(docs.size()));
  EXPECT_GT(ds.n_docs(), 300);
  EXPECT_GT(ds.n_tokens(), 250000);
  EXPECT_EQ(report.n_skipped, 0);
  EXPECT_EQ(ds.n_tokens(), report.n_tokens);
  for (int64_t i : {int64_t{0}, ds.n_docs() / 2, ds.n_docs() - 1}) ExpectDoc(ds, i, docs[static_cast<size_t>(i)]);
  for (size_t i = 0; i + 1 < docs.size(); ++i) EXPECT_GE(docs[i].size(), 2000u) << i;
  EXPECT_EQ(docs[0].find("\r"), std::string::npos);
}

TEST_F(TokenDatasetTest, EvalSplitIsDeterministicAndByDocument) {
  std::string jsonl;
  for (int i = 0; i < 400; ++i) jsonl += "{\"text\": \"document number " + std::to_string(i) + "\"}\n";
  DatasetBuildOptions options;
  options.inputs = {WriteTempFile("in.jsonl", jsonl)};
  options.eval_fraction = 0.1;
  options.output = TempDir("a") + "/ds";
  const auto report = BuildTokenDataset(tok(), options);
  ASSERT_EQ(report.prefixes.size(), 2u);
  const auto train = TokenDataset::Open(options.output + "-train");
  const auto eval = TokenDataset::Open(options.output + "-eval");
  EXPECT_EQ(train.n_docs() + eval.n_docs(), 400);
  EXPECT_GT(eval.n_docs(), 20);
  EXPECT_LT(eval.n_docs(), 70);
  for (int64_t i = 0; i < eval.n_docs(); ++i) {
    const std::string text = tok().Decode(eval.Doc(i).first(eval.Doc(i).size() - 1));
    EXPECT_LT(SplitFraction(text), 0.1) << text;
  }
  // Same input, different thread count: byte-identical files.
  options.threads = 1;
  options.output = TempDir("b") + "/ds";
  BuildTokenDataset(tok(), options);
  EXPECT_EQ(ReadFile(options.output + "-eval.tokens"), ReadFile(eval.prefix() + ".tokens"));
  EXPECT_EQ(ReadFile(options.output + "-train.docs"), ReadFile(train.prefix() + ".docs"));
}

TEST_F(TokenDatasetTest, EmptyResultIsAnErrorNamingTheFix) {
  DatasetBuildOptions options;
  options.inputs = {WriteTempFile("bad.jsonl", "not json\n{\"x\": 1}\n")};
  options.output = TempDir("out") + "/ds";
  try {
    BuildTokenDataset(tok(), options);
    ADD_FAILURE() << "no error";
  } catch (const loom::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("would be empty"), std::string::npos) << what;
    EXPECT_NE(what.find("bad.jsonl:1: invalid JSON"), std::string::npos) << what;
    EXPECT_NE(what.find("--text-field"), std::string::npos) << what;
  }
  EXPECT_FALSE(std::filesystem::exists(options.output + ".json"));
  EXPECT_FALSE(std::filesystem::exists(options.output + ".tokens.tmp"));
  options.inputs = {WriteTempFile("one.jsonl", "{\"text\": \"x\"}\n")};
  options.eval_fraction = 0.5;  // one document cannot fill both sides
  EXPECT_THROW(BuildTokenDataset(tok(), options), loom::ConfigError);
  options.eval_fraction = 1.5;
  EXPECT_THROW(BuildTokenDataset(tok(), options), loom::ConfigError);
}

TEST_F(TokenDatasetTest, OpenRejectsMissingAndCorruptFiles) {
  EXPECT_THROW(TokenDataset::Open(TempDir("none") + "/missing"), loom::ConfigError);
  DatasetBuildOptions options;
  options.inputs = {WriteTempFile("in.jsonl", "{\"text\": \"a b c\"}\n{\"text\": \"d e f\"}\n")};
  options.output = TempDir("out") + "/ds";
  BuildTokenDataset(tok(), options);
  ASSERT_NO_THROW(TokenDataset::Open(options.output));
  std::filesystem::resize_file(options.output + ".tokens", 6);
  try {
    TokenDataset::Open(options.output);
    ADD_FAILURE() << "no error";
  } catch (const loom::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(".tokens: 6 bytes"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace loom::data
