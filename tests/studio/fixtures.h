// Shared by the studio's model tests: a fresh work folder, and a dataset of
// the novel's first bytes built with the real Qwen3 tokenizer (C ABI).
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "studio/model/c_api.h"

namespace loom::studio::testing {

inline std::string Workdir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("loom_studio_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Tokenizes the first `bytes` bytes of the novel into `work`/data; returns that prefix.
inline std::string BuildNovelDataset(const std::string& work, size_t bytes) {
  {
    std::ifstream in(LOOM_TEST_NOVEL, std::ios::binary);
    std::string text(bytes, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    std::ofstream(work + "/novel.txt", std::ios::binary) << text;
  }
  const std::string input = work + "/novel.txt", data = work + "/data";
  const char* inputs[] = {input.c_str()};
  loom_dataset_options d = loom_dataset_options_default();
  d.tokenizer = LOOM_TEST_TOKENIZER;
  d.inputs = inputs;
  d.n_inputs = 1;
  d.output = data.c_str();
  d.format = "text";
  char* report = nullptr;
  Check(loom_dataset_build(&d, &report), "loom_dataset_build");
  Take(report);
  return data;
}

}  // namespace loom::studio::testing
