#include "tokenizer/byte_level.h"

#include "base/utf8.h"

#include <array>
#include <cstring>

namespace qs::tok {
namespace {

struct Tables {
  std::array<uint32_t, 256> byte_to_cp{};
  // Alphabet code points are all below 0x144 (324).
  std::array<int16_t, 0x144> cp_to_byte{};
  Tables() {
    cp_to_byte.fill(-1);
    // GPT-2: printable Latin-1 bytes stand for themselves; the other 68 bytes are shifted to
    // U+0100.. in byte order, so that no byte maps to whitespace or a control character.
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      byte_to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
      cp_to_byte[byte_to_cp[b]] = static_cast<int16_t>(b);
    }
  }
};

const Tables& T() {
  static const Tables t;
  return t;
}

// Checks the sequence starting at p (n bytes available). Returns how many leading bytes form a
// valid prefix of a well-formed sequence (0 when the lead byte itself is invalid) and sets *total
// to the length the lead byte announces. Ranges follow Unicode's Table 3-7.
size_t ValidSeqPrefix(const uint8_t* p, size_t n, size_t* total) {
  uint8_t b = p[0];
  if (b < 0x80) {
    *total = 1;
    return 1;
  }
  uint8_t lo = 0x80, hi = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    *total = 2;
  } else if (b >= 0xE0 && b <= 0xEF) {
    *total = 3;
    if (b == 0xE0) lo = 0xA0;       // no overlongs
    if (b == 0xED) hi = 0x9F;       // no surrogates
  } else if (b >= 0xF0 && b <= 0xF4) {
    *total = 4;
    if (b == 0xF0) lo = 0x90;       // no overlongs
    if (b == 0xF4) hi = 0x8F;       // nothing above U+10FFFF
  } else {
    *total = 1;
    return 0;
  }
  size_t k = 1;
  if (k < n && p[k] >= lo && p[k] <= hi) {
    ++k;
    while (k < *total && k < n && p[k] >= 0x80 && p[k] <= 0xBF) ++k;
  }
  return k;
}

}  // namespace

uint32_t ByteToCodepoint(uint8_t b) { return T().byte_to_cp[b]; }

int CodepointToByte(uint32_t cp) { return cp < T().cp_to_byte.size() ? T().cp_to_byte[cp] : -1; }

std::string ByteLevelEncode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) AppendUtf8(T().byte_to_cp[c], &out);
  return out;
}

bool ByteLevelDecode(std::string_view s, std::string* out) {
  out->clear();
  if (!IsValidUtf8(s)) return false;
  size_t pos = 0;
  while (pos < s.size()) {
    int b = CodepointToByte(NextCodepoint(s, &pos));
    if (b < 0) return false;
    out->push_back(static_cast<char>(b));
  }
  return true;
}

size_t ValidUtf8Prefix(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size(), i = 0;
  while (i < n) {
    // ASCII fast path, 8 bytes at a time.
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ull) == 0) {
        i += 8;
        continue;
      }
    }
    size_t total;
    size_t k = ValidSeqPrefix(p + i, n - i, &total);
    if (k != total) return i;
    i += k;
  }
  return n;
}

uint32_t NextCodepoint(std::string_view s, size_t* pos) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data()) + *pos;
  uint32_t c = p[0];
  if (c < 0x80) {
    *pos += 1;
    return c;
  }
  if (c < 0xE0) {
    *pos += 2;
    return ((c & 0x1F) << 6) | (p[1] & 0x3F);
  }
  if (c < 0xF0) {
    *pos += 3;
    return ((c & 0x0F) << 12) | ((p[1] & 0x3F) << 6) | (p[2] & 0x3F);
  }
  *pos += 4;
  return ((c & 0x07) << 18) | ((p[1] & 0x3F) << 12) | ((p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

void AppendUtf8(uint32_t cp, std::string* out) { EncodeUtf8(cp, out); }

size_t IncompleteUtf8Suffix(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size();
  // A sequence is at most 4 bytes, so only a lead byte among the last 3 can be unfinished.
  for (size_t back = 1; back <= 3 && back <= n; ++back) {
    uint8_t b = p[n - back];
    if (b >= 0x80 && b <= 0xBF) continue;  // continuation byte: keep looking for the lead
    size_t total;
    size_t k = ValidSeqPrefix(p + n - back, back, &total);
    return (k == back && total > back) ? back : 0;
  }
  return 0;
}

std::string SanitizeUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  size_t n = s.size(), i = 0;
  std::string out;
  out.reserve(n);
  while (i < n) {
    size_t total;
    size_t k = ValidSeqPrefix(p + i, n - i, &total);
    if (k == total) {
      out.append(s.data() + i, k);
      i += k;
    } else {
      out.append("\xEF\xBF\xBD");  // U+FFFD for the maximal subpart (at least one byte)
      i += k == 0 ? 1 : k;
    }
  }
  return out;
}

}  // namespace qs::tok
