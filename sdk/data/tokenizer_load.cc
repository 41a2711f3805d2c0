// Tokenizer::FromFile: reads a Hugging Face tokenizer.json into
// Tokenizer::Impl, rejecting every setting the encoder does not implement
// (a silently ignored option would produce different ids from Hugging Face).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ops/base/error.h"
#include "sdk/data/internal/tokenizer_impl.h"
#include "sdk/data/utf8.h"

namespace loom::data {
namespace {

using nlohmann::json;
using internal::TokenKind;

// GPT-2's pre-tokenizer regex, used by a ByteLevel pre-tokenizer with
// use_regex true.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

[[noreturn]] void Fail(const std::string& path, const std::string& what) {
  throw ConfigError(ErrorWithFix(
      "tokenizer " + path + ": " + what,
      "pass a Hugging Face byte-level BPE tokenizer.json (e.g. Qwen3's; "
      "scripts/assets.sh fetches it to .cache/assets/qwen3/tokenizer.json)"));
}

// Settings gathered from the "normalizer" and "pre_tokenizer" sections.
struct Pipeline {
  bool nfc = false;
  std::string pattern;
  bool literal = false;  // pattern is a plain string, not a regex
  bool byte_level = false;
};

void ReadNormalizer(const std::string& path, const json& n, Pipeline* p) {
  if (n.is_null()) return;
  const std::string type = n.value("type", "");
  if (type == "NFC") {
    p->nfc = true;
  } else if (type == "Sequence") {
    for (const auto& child : n.at("normalizers")) ReadNormalizer(path, child, p);
  } else {
    Fail(path, "normalizer \"" + type + "\" is not supported (only NFC)");
  }
}

void ReadPreTokenizer(const std::string& path, const json& t, Pipeline* p) {
  const std::string type = t.value("type", "");
  if (type == "Sequence") {
    for (const auto& child : t.at("pretokenizers")) ReadPreTokenizer(path, child, p);
  } else if (type == "Split") {
    if (!p->pattern.empty()) Fail(path, "more than one Split pre-tokenizer");
    const auto& pat = t.at("pattern");
    if (pat.contains("Regex")) {
      p->pattern = pat.at("Regex").get<std::string>();
    } else if (pat.contains("String")) {
      p->pattern = pat.at("String").get<std::string>();
      p->literal = true;
    } else {
      Fail(path, "Split pattern is neither Regex nor String");
    }
    if (t.value("behavior", "") != "Isolated" || t.value("invert", false)) {
      Fail(path, "Split behavior \"" + t.value("behavior", "") + "\"" +
                     (t.value("invert", false) ? " with invert" : "") +
                     " is not supported (only Isolated, invert false)");
    }
  } else if (type == "ByteLevel") {
    if (t.value("add_prefix_space", false)) Fail(path, "ByteLevel add_prefix_space is not supported");
    if (t.value("use_regex", true)) {
      if (!p->pattern.empty()) Fail(path, "ByteLevel use_regex after a Split pre-tokenizer");
      p->pattern = kGpt2Pattern;
    }
    p->byte_level = true;
  } else {
    Fail(path, "pre-tokenizer \"" + type + "\" is not supported (only Split and ByteLevel)");
  }
}

pcre2_code* CompileRegex(const std::string& path, const Pipeline& p) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK;
  if (p.literal) options |= PCRE2_LITERAL;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.pattern.data()), p.pattern.size(),
                                   options, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(error, msg, sizeof(msg));
    Fail(path, "pre-tokenizer regex does not compile at offset " + std::to_string(offset) + ": " +
                   reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if unavailable
  return code;
}

void ReadModel(const std::string& path, const json& m, Tokenizer::Impl* impl) {
  if (m.value("type", "BPE") != "BPE") Fail(path, "model type \"" + m.value("type", "") + "\" is not BPE");
  if (m.value("byte_fallback", false)) Fail(path, "BPE byte_fallback is not supported");
  if (!m.value("continuing_subword_prefix", json("")).is_null() &&
      !m.value("continuing_subword_prefix", json("")).get<std::string>().empty()) {
    Fail(path, "BPE continuing_subword_prefix is not supported");
  }
  if (!m.value("end_of_word_suffix", json("")).is_null() &&
      !m.value("end_of_word_suffix", json("")).get<std::string>().empty()) {
    Fail(path, "BPE end_of_word_suffix is not supported");
  }
  if (!m.value("dropout", json(nullptr)).is_null()) Fail(path, "BPE dropout is not supported");
  if (!m.contains("vocab") || !m["vocab"].is_object()) Fail(path, "model.vocab is missing");

  const json& vocab = m["vocab"];
  impl->token_to_id.reserve(vocab.size() + 64);
  int32_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const int32_t id = it.value().get<int32_t>();
    if (id < 0) Fail(path, "negative id for token \"" + it.key() + "\"");
    impl->token_to_id.emplace(it.key(), id);
    max_id = std::max(max_id, id);
  }
  impl->id_to_token.resize(static_cast<size_t>(max_id) + 1);
  impl->id_to_bytes.resize(static_cast<size_t>(max_id) + 1);
  impl->id_kind.assign(static_cast<size_t>(max_id) + 1, TokenKind::kUnassigned);
  for (const auto& [token, id] : impl->token_to_id) {
    if (!ByteLevelToBytes(token, &impl->id_to_bytes[id])) {
      Fail(path, "vocabulary token \"" + token + "\" is not in the ByteLevel alphabet");
    }
    impl->id_to_token[id] = token;
    impl->id_kind[id] = TokenKind::kVocab;
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = impl->token_to_id.find(ByteToUnicode()[b]);
    if (it == impl->token_to_id.end()) Fail(path, "vocabulary lacks the token for byte " + std::to_string(b));
    impl->byte_id[b] = it->second;
  }

  if (!m.contains("merges") || !m["merges"].is_array()) Fail(path, "model.merges is missing");
  const json& merges = m["merges"];
  impl->merges.Reserve(merges.size());
  int32_t rank = 0;
  for (const auto& entry : merges) {
    std::string left, right;
    if (entry.is_array() && entry.size() == 2) {  // ["a", "b"]
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else if (entry.is_string()) {  // "a b"
      const std::string s = entry.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
        Fail(path, "merge " + std::to_string(rank) + " \"" + s + "\" is not \"left right\"");
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      Fail(path, "merge " + std::to_string(rank) + " is neither [\"a\", \"b\"] nor \"a b\"");
    }
    const auto l = impl->token_to_id.find(left);
    const auto r = impl->token_to_id.find(right);
    const auto merged = impl->token_to_id.find(left + right);
    if (l == impl->token_to_id.end() || r == impl->token_to_id.end() ||
        merged == impl->token_to_id.end()) {
      Fail(path, "merge " + std::to_string(rank) + " (\"" + left + "\", \"" + right +
                     "\") names a token missing from the vocabulary");
    }
    impl->merges.Insert(l->second, r->second, {rank, merged->second});
    ++rank;
  }
}

void ReadAddedTokens(const std::string& path, const json& added, Tokenizer::Impl* impl) {
  if (added.is_null()) return;
  for (const auto& t : added) {
    internal::AddedToken token{t.at("content").get<std::string>(), t.at("id").get<int32_t>(),
                               t.value("special", false)};
    if (token.content.empty() || token.id < 0) Fail(path, "an added token is empty or has a negative id");
    if (t.value("lstrip", false) || t.value("rstrip", false) || t.value("single_word", false)) {
      Fail(path, "added token \"" + token.content + "\" uses lstrip/rstrip/single_word (not supported)");
    }
    const auto id = static_cast<size_t>(token.id);
    if (id >= impl->id_to_token.size()) {
      impl->id_to_token.resize(id + 1);
      impl->id_to_bytes.resize(id + 1);
      impl->id_kind.resize(id + 1, TokenKind::kUnassigned);
    }
    impl->id_to_token[id] = token.content;
    impl->id_to_bytes[id] = token.content;
    impl->id_kind[id] = token.special ? TokenKind::kSpecial : TokenKind::kAdded;
    impl->token_to_id[token.content] = token.id;
    impl->added_first_byte[static_cast<uint8_t>(token.content[0])] = true;
    impl->added.push_back(std::move(token));
  }
  std::stable_sort(impl->added.begin(), impl->added.end(),
                   [](const auto& a, const auto& b) { return a.content.size() > b.content.size(); });
}

}  // namespace

void internal::PairTable::Reserve(size_t n) {
  size_t capacity = 16;
  while (capacity < 2 * n) capacity <<= 1;
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  size_ = 0;
}

void internal::PairTable::Insert(int32_t left, int32_t right, Merge merge) {
  const uint64_t key = Key(left, right);
  for (size_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) return;  // keep the lower rank
    if (s.key == kEmpty) {
      s.key = key;
      s.merge = merge;
      ++size_;
      return;
    }
  }
}

Tokenizer::Impl::~Impl() { pcre2_code_free(regex); }

Tokenizer Tokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(ErrorWithFix("tokenizer file " + path + " cannot be opened",
                                   "check the path; scripts/assets.sh fetches Qwen3's tokenizer to "
                                   ".cache/assets/qwen3/tokenizer.json"));
  }
  json root = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) Fail(path, "not a valid JSON object");

  auto impl = std::make_unique<Impl>();
  impl->path = path;
  Pipeline pipeline;
  try {
    if (!root.contains("model")) Fail(path, "no \"model\" section");
    ReadNormalizer(path, root.value("normalizer", json(nullptr)), &pipeline);
    if (root.value("pre_tokenizer", json(nullptr)).is_null()) Fail(path, "no pre_tokenizer");
    ReadPreTokenizer(path, root["pre_tokenizer"], &pipeline);
    if (!pipeline.byte_level) Fail(path, "the pre-tokenizer has no ByteLevel step (not byte-level BPE)");
    const json& decoder = root.value("decoder", json(nullptr));
    if (!decoder.is_null() && decoder.value("type", "") != "ByteLevel") {
      Fail(path, "decoder \"" + decoder.value("type", "") + "\" is not ByteLevel");
    }
    ReadModel(path, root["model"], impl.get());
    ReadAddedTokens(path, root.value("added_tokens", json(nullptr)), impl.get());
  } catch (const json::exception& e) {
    Fail(path, std::string("unexpected structure: ") + e.what());
  }
  impl->nfc = pipeline.nfc;
  impl->regex = CompileRegex(path, pipeline);
  for (const char* name : {"<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>"}) {
    const auto it = impl->token_to_id.find(name);
    if (it != impl->token_to_id.end()) {
      impl->eos = it->second;
      break;
    }
  }
  return Tokenizer(std::move(impl));
}

}  // namespace loom::data
