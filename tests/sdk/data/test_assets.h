// Real assets the data tests use, and a way to ask Python `tokenizers` for
// reference encodings. Missing assets fail the test loudly (no skip): run
// `bash scripts/assets.sh` (also part of `make deps`).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "sdk/data/tokenizer.h"

#include "tests/testing/oracle.h"  // VenvPython()

namespace loom::testing {

// .cache/assets/qwen3/tokenizer.json (fails the current test if missing).
std::string Qwen3TokenizerPath();

// The public-domain novel shipped by golang-github-colinmarc-hdfs-dev.
std::string NovelPath();

// Reads a whole file; fails the test if it cannot.
std::string ReadFile(const std::string& path);

// Writes `text` to a fresh file under the test temp dir and returns its path.
std::string WriteTempFile(const std::string& name, const std::string& text);

// A fresh empty directory for this test.
std::string TempDir(const std::string& name);

// Encodes each file with Hugging Face `tokenizers` (hf_reference.py encode);
// one id list per file. Fails the test if Python fails.
std::vector<std::vector<int32_t>> HfEncodeFiles(const std::string& tokenizer, const std::vector<std::string>& files);

// Runs a shell command, returns its stdout; *status gets the exit status.
std::string RunCommand(const std::string& command, int* status);

// A test suite that loads the real Qwen3 tokenizer once (per suite): tok().
class Qwen3TokenizerSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  static const data::Tokenizer& tok();

 private:
  static std::unique_ptr<data::Tokenizer> tokenizer_;
};

}  // namespace loom::testing
