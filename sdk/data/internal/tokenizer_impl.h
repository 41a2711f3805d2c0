// The state behind loom::data::Tokenizer, shared by tokenizer_load.cc (which
// builds it from tokenizer.json) and tokenizer.cc (which encodes/decodes).
// Not part of the public API.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sdk/data/tokenizer.h"

struct pcre2_real_code_8;  // pcre2_code with PCRE2_CODE_UNIT_WIDTH 8

namespace loom::data::internal {

// Open-addressing hash map from a pair of token ids to the pair's BPE merge:
// its rank (lower merges first) and the id of the merged token. Built once,
// then read-only (lookups are thread-safe).
class PairTable {
 public:
  struct Merge {
    int32_t rank = -1;  // -1: no such merge
    int32_t merged = -1;
  };

  // Sizes the table for `n` pairs; call once before Insert.
  void Reserve(size_t n);
  // Adds a pair; keeps the first (lowest-rank) entry if the pair repeats.
  void Insert(int32_t left, int32_t right, Merge merge);
  // The merge of (left, right), or {-1, -1}.
  Merge Find(int32_t left, int32_t right) const {
    const uint64_t key = Key(left, right);
    for (size_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return s.merge;
      if (s.key == kEmpty) return Merge{};
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge;
  };
  static uint64_t Key(int32_t l, int32_t r) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(l)) << 32) | static_cast<uint32_t>(r);
  }
  static uint64_t Hash(uint64_t x) {  // splitmix64 finalizer
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

struct AddedToken {
  std::string content;  // matched literally in the raw text
  int32_t id = -1;
  bool special = false;
};

enum class TokenKind : uint8_t { kUnassigned, kVocab, kAdded, kSpecial };

}  // namespace loom::data::internal

namespace loom::data {

struct Tokenizer::Impl {
  Impl() = default;
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  std::string path;

  // Vocabulary, indexed both ways. Spellings are as in tokenizer.json (the
  // ByteLevel alphabet for BPE tokens); bytes are what a token decodes to.
  std::unordered_map<std::string, int32_t> token_to_id;
  std::vector<std::string> id_to_token;
  std::vector<std::string> id_to_bytes;
  std::vector<internal::TokenKind> id_kind;
  std::array<int32_t, 256> byte_id{};  // id of each single byte's token

  internal::PairTable merges;

  // Added tokens, longest first, and which bytes can start one.
  std::vector<internal::AddedToken> added;
  std::array<bool, 256> added_first_byte{};

  bool nfc = false;
  pcre2_real_code_8* regex = nullptr;  // owned; JIT-compiled when possible
  std::optional<int32_t> eos;

  // Cache of word bytes -> ids; grows up to kCacheLimit words, then stops.
  static constexpr size_t kCacheLimit = 1 << 18;
  mutable std::mutex cache_mu;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache;

  // Encodes text that holds no added token (steps 2-4 in tokenizer.h).
  void EncodeSegment(std::string_view text, std::vector<int32_t>* ids) const;
  // Encodes one pre-tokenized word (raw bytes) through the cache.
  void EncodeWord(std::string_view word, std::vector<int32_t>* ids) const;
  // Plain BPE over the bytes of one word.
  void Bpe(std::string_view word, std::vector<int32_t>* ids) const;
};

}  // namespace loom::data
