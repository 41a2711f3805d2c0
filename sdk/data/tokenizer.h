// Tokenizer: a byte-level BPE tokenizer that reads a Hugging Face
// `tokenizer.json` (the format of GPT-2, Qwen2/Qwen2.5/Qwen3, Llama 3) and
// encodes token-for-token like the Hugging Face `tokenizers` library.
//
// The pipeline, in the order Hugging Face runs it:
//   1. added tokens (`<|endoftext|>`, `<|im_start|>`, `<think>`, ...) are split
//      out first by exact, leftmost-longest match on the raw text;
//   2. each remaining segment is repaired to valid UTF-8 (ill-formed bytes ->
//      U+FFFD) and normalized (normalizer "NFC", or none);
//   3. the pre-tokenizer splits it into words: a "Split" regex (PCRE2 in UTF +
//      UCP mode, so \p{L}, \p{N}, \s are Unicode-aware) with "Isolated"
//      behaviour, followed by "ByteLevel" (use_regex false), or a lone
//      "ByteLevel" with GPT-2's built-in regex;
//   4. each word's bytes are merged by BPE rank (lowest rank first, leftmost on
//      ties) into vocabulary ids.
// Decoding concatenates each id's bytes and repairs the result to UTF-8.
//
// What it is not: no WordPiece/Unigram models, no byte_fallback, no
// truncation/padding/post-processor templates (the Qwen post-processor adds
// nothing). Unsupported settings are rejected when loading, never ignored.
//
// Thread-safety: a Tokenizer is immutable after FromFile except for an
// internal word cache guarded by a mutex; Encode/Decode may be called from any
// number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace loom::data {

class Tokenizer {
 public:
  /// Loads a Hugging Face `tokenizer.json`.
  /// @param[in] path  the file.
  /// @return the tokenizer; the file is not kept open.
  /// @throws loom::ConfigError naming `path` and the problem (missing file,
  ///         invalid JSON, unsupported model/normalizer/pre-tokenizer, a merge
  ///         naming a token missing from the vocabulary, a bad regex, ...).
  static Tokenizer FromFile(const std::string& path);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  /// Encodes UTF-8 `text` (ill-formed bytes are read as U+FFFD) into token ids.
  /// Added/special tokens appearing literally in `text` become their ids.
  /// Adds no BOS/EOS. Thread-safe.
  std::vector<int32_t> Encode(std::string_view text) const;

  /// Like Encode, but appends the ids to *ids (no reallocation of the caller's
  /// buffer beyond normal growth). Thread-safe.
  void EncodeAppend(std::string_view text, std::vector<int32_t>* ids) const;

  /// Decodes ids back to UTF-8 text: the concatenated bytes of every token,
  /// with ill-formed sequences (e.g. a multi-byte character cut in the middle)
  /// replaced by U+FFFD, as Hugging Face does.
  /// @param[in] skip_special  drop tokens marked "special" in tokenizer.json.
  /// @throws loom::Error if an id is outside [0, vocab_size()) or unassigned.
  std::string Decode(std::span<const int32_t> ids, bool skip_special = false) const;

  /// Number of ids: the largest id (vocabulary or added token) plus one.
  /// For Qwen3 this is 151,669 (151,643 BPE tokens plus 26 added tokens).
  int64_t vocab_size() const;

  /// Id of a token spelled as in tokenizer.json: a vocabulary entry in the
  /// ByteLevel alphabet ("Hello", "Ġthe") or an added token's content
  /// ("<|im_start|>"). std::nullopt if there is no such token.
  std::optional<int32_t> TokenToId(std::string_view token) const;

  /// The spelling of `id` as in tokenizer.json, or std::nullopt.
  std::optional<std::string> IdToToken(int32_t id) const;

  /// The end-of-text id used to separate documents: the first of
  /// `<|endoftext|>`, `<|end_of_text|>`, `</s>`, `<eos>` present (151643 for
  /// Qwen3). @throws loom::ConfigError if the tokenizer has none of them.
  int32_t eos_id() const;

  /// True if `id` is an added token marked "special".
  bool IsSpecial(int32_t id) const;

  /// The file this tokenizer was loaded from.
  const std::string& path() const;

  // Defined in sdk/data/internal/tokenizer_impl.h; not part of the API.
  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace loom::data
