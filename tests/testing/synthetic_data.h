// A small tokenized dataset the tests can train on: 200 documents of a
// repeating arithmetic pattern (vocab 64, eos 63) that a tiny model learns.
#pragma once

#include <string>

namespace loom::testing {

// Writes the dataset under `dir` and returns its path (dir + "/train").
std::string MakeSyntheticDataset(const std::string& dir);

}  // namespace loom::testing
