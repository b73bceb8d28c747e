// Byte-level helpers shared by the tokenizer: GPT-2's byte <-> code point alphabet and UTF-8
// validation / repair.
//
// Byte-level BPE never sees raw bytes in its vocabulary: every byte b is shown as one printable code
// point (GPT-2's `bytes_to_unicode`), so "Ġhello" is " hello". We run BPE on raw bytes and only
// translate at load time (vocab strings -> bytes) and for the few lookups that need the string form.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qs::tok {

// The code point that stands for byte b in byte-level vocab strings.
uint32_t ByteToCodepoint(uint8_t b);
// Inverse; -1 when cp is not one of the 256 alphabet code points.
int CodepointToByte(uint32_t cp);

// Raw bytes -> byte-level string ("Ġ" for ' ', ...).
std::string ByteLevelEncode(std::string_view bytes);
// Byte-level string -> raw bytes. False (and *out unspecified) when `s` is not valid UTF-8 or holds a
// code point outside the alphabet; the caller then uses the string as is, as HF's decoder does.
bool ByteLevelDecode(std::string_view s, std::string* out);

// Length of the longest prefix of `s` that is well-formed UTF-8 (no overlongs, surrogates or code
// points above U+10FFFF). Equals s.size() iff the whole string is valid.
size_t ValidUtf8Prefix(std::string_view s);
inline bool IsValidUtf8(std::string_view s) { return ValidUtf8Prefix(s) == s.size(); }

// Decodes the code point at s[*pos] of a string already known to be valid UTF-8; advances *pos.
uint32_t NextCodepoint(std::string_view s, size_t* pos);
void AppendUtf8(uint32_t cp, std::string* out);

// Number of bytes at the end of `s` that form an incomplete-but-so-far-valid UTF-8 sequence (0..3):
// a streaming decoder holds these back until the rest arrives.
size_t IncompleteUtf8Suffix(std::string_view s);
// Copies `s`, replacing each maximal ill-formed subsequence with U+FFFD (the WHATWG / Unicode
// "substitution of maximal subparts" rule, which is what Python's and Rust's lossy decoders do).
std::string SanitizeUtf8(std::string_view s);

}  // namespace qs::tok
