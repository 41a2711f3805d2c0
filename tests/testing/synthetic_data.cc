#include "tests/testing/synthetic_data.h"

#include <filesystem>
#include <vector>

#include "sdk/data/token_dataset.h"

namespace loom::testing {

std::string MakeSyntheticDataset(const std::string& dir) {
  std::filesystem::create_directories(dir);
  data::TokenDatasetInfo info;
  info.vocab_size = 64;
  info.eos_id = 63;
  info.tokenizer = "synthetic";
  data::TokenDatasetWriter w(dir + "/train", info);
  for (int d = 0; d < 200; ++d) {
    std::vector<int32_t> doc;
    for (int i = 0; i < 10 + d % 13; ++i) doc.push_back((d + i * 3) % 60);
    doc.push_back(63);
    w.Append(doc);
  }
  w.Finish();
  return dir + "/train";
}

}  // namespace loom::testing
