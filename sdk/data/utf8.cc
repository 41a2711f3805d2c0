// UTF-8 repair, NFC and the ByteLevel alphabet (see utf8.h).
#include "sdk/data/utf8.h"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "ops/base/error.h"

namespace loom::data {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed sequence starting at text[i], or, if it is
// ill-formed, minus the length of its maximal subpart (at least 1).
int SequenceLength(std::string_view text, size_t i) {
  const auto b0 = static_cast<uint8_t>(text[i]);
  if (b0 < 0x80) return 1;
  int need;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return -1;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= text.size()) return -k;
    const auto b = static_cast<uint8_t>(text[i + k]);
    if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return -k;
  }
  return need + 1;
}

std::array<std::string, 256> BuildByteToUnicode() {
  std::array<std::string, 256> table;
  int next = 256;  // printable bytes keep their code point; others get 256+n
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    const int cp = printable ? b : next++;
    utf8proc_uint8_t buf[4];
    const auto n = utf8proc_encode_char(cp, buf);
    table[b].assign(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  }
  return table;
}

}  // namespace

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const int n = SequenceLength(text, i);
    if (n < 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

std::string RepairUtf8(std::string_view text) {
  if (IsValidUtf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  for (size_t i = 0; i < text.size();) {
    const int n = SequenceLength(text, i);
    if (n > 0) {
      out.append(text.substr(i, static_cast<size_t>(n)));
      i += static_cast<size_t>(n);
    } else {
      out.append(kReplacement);
      i += static_cast<size_t>(-n);
    }
  }
  return out;
}

std::string NormalizeNfc(std::string_view text) {
  bool ascii = true;
  for (const char c : text) {
    if (static_cast<uint8_t>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return std::string(text);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                   static_cast<utf8proc_ssize_t>(text.size()), &out,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owned(out, &std::free);
  if (n < 0) throw Error(std::string("NFC normalization failed: ") + utf8proc_errmsg(n));
  return std::string(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
}

const std::array<std::string, 256>& ByteToUnicode() {
  static const std::array<std::string, 256> table = BuildByteToUnicode();
  return table;
}

bool ByteLevelToBytes(std::string_view text, std::string* bytes) {
  // Inverse table indexed by code point (the alphabet lies below U+0144).
  static const std::array<int, 324> inverse = [] {
    std::array<int, 324> inv;
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) {
      utf8proc_int32_t cp;
      const auto& s = ByteToUnicode()[b];
      utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                       static_cast<utf8proc_ssize_t>(s.size()), &cp);
      inv[static_cast<size_t>(cp)] = b;
    }
    return inv;
  }();
  bytes->clear();
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    const auto n = utf8proc_iterate(p, left, &cp);
    if (n <= 0 || cp < 0 || cp >= static_cast<int>(inverse.size()) || inverse[cp] < 0) return false;
    bytes->push_back(static_cast<char>(inverse[cp]));
    p += n;
    left -= n;
  }
  return true;
}

}  // namespace loom::data
