// The tokenized dataset format: documents of token ids, written once by a
// TokenDatasetWriter (see dataset_builder.h for building from text) and read
// by TokenDataset through mmap, so opening a multi-GB dataset costs nothing
// and every data-parallel rank on a host shares one page cache.
//
// A dataset is three files with a common prefix:
//   <prefix>.tokens  int32 little-endian token ids, all documents back to back;
//                    every document ends with the tokenizer's eos id
//   <prefix>.docs    int64 little-endian offsets into .tokens, n_docs + 1
//                    entries: document i is tokens [docs[i], docs[i + 1])
//   <prefix>.json    metadata: {"format": "loom.tokens", "version": 1,
//                    "tokenizer": path, "vocab_size", "eos_id", "n_docs",
//                    "n_tokens", "source": what it was built from}
// A dataset with zero documents is never written (the builder reports it).
#pragma once

#include <cstdint>
#include <fstream>
#include <span>
#include <string>

namespace loom::data {

constexpr int kTokenDatasetVersion = 1;

// Metadata stored in <prefix>.json.
struct TokenDatasetInfo {
  std::string tokenizer;   // path of the tokenizer.json used
  int64_t vocab_size = 0;  // ids are in [0, vocab_size)
  int32_t eos_id = -1;     // ends every document
  int64_t n_docs = 0;
  int64_t n_tokens = 0;    // including one eos per document
  std::string source;      // input file(s) the dataset was built from
};

// A read-only, memory-mapped dataset. Move-only; the mapping lives as long as
// the object. All accessors are const and thread-safe.
class TokenDataset {
 public:
  /// Opens <prefix>.{json,tokens,docs} and checks them against each other.
  /// @throws loom::ConfigError naming the file and the fix if a file is
  ///         missing, the metadata is invalid, or a size/offset disagrees.
  static TokenDataset Open(const std::string& prefix);

  TokenDataset(TokenDataset&& other) noexcept;
  TokenDataset& operator=(TokenDataset&& other) noexcept;
  TokenDataset(const TokenDataset&) = delete;
  TokenDataset& operator=(const TokenDataset&) = delete;
  ~TokenDataset();

  const TokenDatasetInfo& info() const { return info_; }
  const std::string& prefix() const { return prefix_; }
  int64_t n_docs() const { return info_.n_docs; }
  int64_t n_tokens() const { return info_.n_tokens; }

  /// The tokens of document `i` (0 <= i < n_docs()), eos included; valid as
  /// long as the dataset. No bounds check beyond an assert-style throw of
  /// std::out_of_range.
  std::span<const int32_t> Doc(int64_t i) const;
  /// Length of document `i` in tokens.
  int64_t DocLength(int64_t i) const;
  /// Every token, documents back to back.
  std::span<const int32_t> tokens() const { return {tokens_, static_cast<size_t>(info_.n_tokens)}; }

 private:
  TokenDataset() = default;
  void Release();

  std::string prefix_;
  TokenDatasetInfo info_;
  const int32_t* tokens_ = nullptr;
  const int64_t* offsets_ = nullptr;
  void* tokens_map_ = nullptr;
  size_t tokens_bytes_ = 0;
  void* offsets_map_ = nullptr;
  size_t offsets_bytes_ = 0;
};

// Writes a dataset document by document. Files are written under temporary
// names and renamed into place by Finish, so a crash never leaves a dataset
// that looks complete. Not thread-safe.
class TokenDatasetWriter {
 public:
  /// Creates <prefix>.tokens.tmp/.docs.tmp (and the prefix's directory).
  /// @throws loom::ConfigError if the files cannot be created.
  TokenDatasetWriter(const std::string& prefix, TokenDatasetInfo info);
  ~TokenDatasetWriter();  // removes the temporary files unless Finish ran

  /// Appends one document and then info.eos_id (so callers pass the text's
  /// tokens only). An empty document is written as a lone eos.
  void Append(std::span<const int32_t> tokens);

  /// Flushes, writes <prefix>.json and renames the files into place.
  /// @return the final metadata (n_docs, n_tokens filled in).
  /// @throws loom::ConfigError if nothing was appended or a write failed.
  TokenDatasetInfo Finish();

  int64_t n_docs() const { return info_.n_docs; }
  int64_t n_tokens() const { return info_.n_tokens; }

 private:
  std::string prefix_;
  TokenDatasetInfo info_;
  std::ofstream tokens_;
  std::ofstream docs_;
  bool finished_ = false;
};

}  // namespace loom::data
