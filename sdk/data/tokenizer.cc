// Tokenizer encoding and decoding (the pipeline is described in tokenizer.h;
// loading lives in tokenizer_load.cc).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <climits>

#include "ops/base/error.h"
#include "sdk/data/internal/tokenizer_impl.h"
#include "sdk/data/utf8.h"

namespace loom::data {
namespace {

// Per-thread PCRE2 scratch: match data and a JIT stack big enough for long
// whitespace or punctuation runs (the default 32 KiB can overflow).
struct RegexScratch {
  pcre2_match_data* match = pcre2_match_data_create(8, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  RegexScratch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~RegexScratch() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(match);
  }
};

// Length of the UTF-8 sequence that starts with byte `b` (input is valid).
size_t CharLength(uint8_t b) { return b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4; }

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

void Tokenizer::Impl::Bpe(std::string_view word, std::vector<int32_t>* ids) const {
  // symbols[i] is a token id; ranks[i] the rank of merging symbols[i] and
  // symbols[i + 1] (INT_MAX if they do not merge). Each step merges the
  // lowest-ranked pair, leftmost on ties, and refreshes its two neighbours.
  std::vector<int32_t> symbols(word.size());
  for (size_t i = 0; i < word.size(); ++i) symbols[i] = byte_id[static_cast<uint8_t>(word[i])];
  std::vector<int32_t> ranks(word.size());
  std::vector<int32_t> merged(word.size());
  auto refresh = [&](size_t i) {
    const auto m = merges.Find(symbols[i], symbols[i + 1]);
    ranks[i] = m.rank < 0 ? INT_MAX : m.rank;
    merged[i] = m.merged;
  };
  for (size_t i = 0; i + 1 < symbols.size(); ++i) refresh(i);
  while (symbols.size() > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < symbols.size(); ++i) {
      if (ranks[i] < ranks[best]) best = i;
    }
    if (ranks[best] == INT_MAX) break;
    symbols[best] = merged[best];
    symbols.erase(symbols.begin() + static_cast<ptrdiff_t>(best) + 1);
    ranks.erase(ranks.begin() + static_cast<ptrdiff_t>(best) + 1);
    merged.erase(merged.begin() + static_cast<ptrdiff_t>(best) + 1);
    if (best + 1 < symbols.size()) refresh(best);
    if (best > 0) refresh(best - 1);
  }
  ids->insert(ids->end(), symbols.begin(), symbols.end());
}

void Tokenizer::Impl::EncodeWord(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.size() == 1) {
    ids->push_back(byte_id[static_cast<uint8_t>(word[0])]);
    return;
  }
  std::string key(word);
  {
    std::lock_guard<std::mutex> lock(cache_mu);
    const auto it = cache.find(key);
    if (it != cache.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = ids->size();
  Bpe(word, ids);
  std::lock_guard<std::mutex> lock(cache_mu);
  if (cache.size() < kCacheLimit) {
    cache.emplace(std::move(key), std::vector<int32_t>(ids->begin() + static_cast<ptrdiff_t>(start), ids->end()));
  }
}

void Tokenizer::Impl::EncodeSegment(std::string_view raw, std::vector<int32_t>* ids) const {
  if (raw.empty()) return;
  std::string repaired;
  std::string_view text = raw;
  if (!IsValidUtf8(text)) {
    repaired = RepairUtf8(text);
    text = repaired;
  }
  std::string normalized;
  if (nfc) {
    normalized = NormalizeNfc(text);
    text = normalized;
  }
  // Split, "Isolated": every match is a word, and so is every gap between
  // matches. Input is valid UTF-8, so PCRE2 may skip its own UTF check.
  thread_local RegexScratch scratch;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  size_t word_start = 0;
  while (offset < text.size()) {
    const int rc = pcre2_match(regex, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, scratch.match,
                               scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      throw Error("tokenizer " + path + ": pre-tokenizer regex failed: " + reinterpret_cast<const char*>(msg));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.match);
    const size_t begin = ovector[0], end = ovector[1];
    if (begin > word_start) EncodeWord(text.substr(word_start, begin - word_start), ids);
    if (end > begin) {
      EncodeWord(text.substr(begin, end - begin), ids);
      word_start = end;
      offset = end;
    } else {  // empty match: step over one character
      word_start = begin;
      offset = begin + CharLength(static_cast<uint8_t>(text[begin]));
    }
  }
  if (word_start < text.size()) EncodeWord(text.substr(word_start), ids);
}

void Tokenizer::EncodeAppend(std::string_view text, std::vector<int32_t>* ids) const {
  const Impl& impl = *impl_;
  // Added tokens first: leftmost match, longest at that position.
  size_t segment_start = 0;
  for (size_t i = 0; i < text.size() && !impl.added.empty(); ++i) {
    if (!impl.added_first_byte[static_cast<uint8_t>(text[i])]) continue;
    for (const auto& token : impl.added) {
      if (text.compare(i, token.content.size(), token.content) == 0) {
        impl.EncodeSegment(text.substr(segment_start, i - segment_start), ids);
        ids->push_back(token.id);
        i += token.content.size() - 1;
        segment_start = i + 1;
        break;
      }
    }
  }
  if (segment_start < text.size()) impl.EncodeSegment(text.substr(segment_start), ids);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  EncodeAppend(text, &ids);
  return ids;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (const int32_t id : ids) {
    if (id < 0 || id >= vocab_size() ||
        impl_->id_kind[static_cast<size_t>(id)] == internal::TokenKind::kUnassigned) {
      throw Error("token id " + std::to_string(id) + " is not in tokenizer " + impl_->path + " (vocab size " +
                  std::to_string(vocab_size()) + ")");
    }
    if (skip_special && impl_->id_kind[static_cast<size_t>(id)] == internal::TokenKind::kSpecial) continue;
    bytes += impl_->id_to_bytes[static_cast<size_t>(id)];
  }
  return RepairUtf8(bytes);
}

int64_t Tokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_token.size()); }

std::optional<int32_t> Tokenizer::TokenToId(std::string_view token) const {
  const auto it = impl_->token_to_id.find(std::string(token));
  if (it == impl_->token_to_id.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Tokenizer::IdToToken(int32_t id) const {
  if (id < 0 || id >= vocab_size() || impl_->id_kind[static_cast<size_t>(id)] == internal::TokenKind::kUnassigned) {
    return std::nullopt;
  }
  return impl_->id_to_token[static_cast<size_t>(id)];
}

int32_t Tokenizer::eos_id() const {
  if (!impl_->eos) {
    throw ConfigError(ErrorWithFix("tokenizer " + impl_->path + " has no end-of-text token",
                                   "use a tokenizer with <|endoftext|>, <|end_of_text|>, </s> or <eos>"));
  }
  return *impl_->eos;
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && id < vocab_size() && impl_->id_kind[static_cast<size_t>(id)] == internal::TokenKind::kSpecial;
}

const std::string& Tokenizer::path() const { return impl_->path; }

}  // namespace loom::data
