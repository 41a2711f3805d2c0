// UTF-8 helpers for the text pipeline: repairing invalid byte sequences,
// Unicode NFC normalization (utf8proc) and the GPT-2 "ByteLevel" mapping that
// byte-level BPE vocabularies (GPT-2, Qwen2/3, Llama 3) are written in.
//
// These are small pure functions with no state; all are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace loom::data {

// Returns true if `text` is well-formed UTF-8 (no overlongs, surrogates or
// code points above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// Returns `text` with every maximal ill-formed subsequence replaced by U+FFFD
// (the Unicode "maximal subpart" rule, the same as Rust's
// String::from_utf8_lossy). Well-formed input is returned unchanged.
std::string RepairUtf8(std::string_view text);

// Returns the NFC normalization of well-formed UTF-8 `text` (canonical
// decomposition then composition, via utf8proc). Pure-ASCII text is returned
// as is without calling utf8proc. Throws loom::Error if utf8proc fails.
std::string NormalizeNfc(std::string_view text);

// The GPT-2 ByteLevel alphabet: each byte 0..255 is written as one printable
// code point (printable Latin-1 bytes map to themselves, the rest to
// U+0100..U+0143). ByteToUnicode()[b] is that code point's UTF-8 encoding.
const std::array<std::string, 256>& ByteToUnicode();

// Decodes a ByteLevel-alphabet string (e.g. a vocabulary entry "Ġthe") back
// to raw bytes (" the"). Returns false if `text` holds a code point outside
// the alphabet; *bytes is then unspecified.
bool ByteLevelToBytes(std::string_view text, std::string* bytes);

}  // namespace loom::data
