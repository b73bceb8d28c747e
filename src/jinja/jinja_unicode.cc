#include "jinja/jinja_unicode.h"

#include "base/utf8.h"

#include <utf8proc.h>


namespace qs::jinja {

char32_t DecodeUtf8(std::string_view s, size_t* pos) {
  size_t i = *pos;
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *pos = i + 1;
    return b0;
  }
  int len = 0;
  char32_t cp = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  }
  bool ok = len > 0 && i + len <= s.size();
  for (int k = 1; ok && k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) ok = false;
    cp = (cp << 6) | (b & 0x3F);
  }
  // Overlong forms and encoded surrogates are invalid; they decode byte by byte.
  if (!ok || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *pos = i + 1;
    return 0xDC00 + b0;
  }
  *pos = i + len;
  return cp;
}

void AppendUtf8(std::string* out, char32_t cp) {
  if (cp >= 0xDC80 && cp <= 0xDCFF) {  // surrogateescape: the original byte
    out->push_back(static_cast<char>(cp - 0xDC00));
  } else {
    EncodeUtf8(static_cast<uint32_t>(cp), out);
  }
}

std::vector<char32_t> ToCodePoints(std::string_view s) {
  std::vector<char32_t> v;
  v.reserve(s.size());
  for (size_t i = 0; i < s.size();) v.push_back(DecodeUtf8(s, &i));
  return v;
}

std::string FromCodePoints(const std::vector<char32_t>& cps, size_t begin, size_t end) {
  std::string out;
  if (end > cps.size()) end = cps.size();
  for (size_t i = begin; i < end; ++i) AppendUtf8(&out, cps[i]);
  return out;
}

size_t CodePointCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) DecodeUtf8(s, &i);
  return n;
}

size_t CodePointIndex(std::string_view s, size_t byte_offset) { return CodePointCount(s.substr(0, byte_offset)); }

bool PyIsSpace(char32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

static utf8proc_category_t Cat(char32_t c) {
  if (c > 0x10FFFF) return UTF8PROC_CATEGORY_CN;
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

bool PyIsPrintable(char32_t c) {
  if (c == ' ') return true;
  switch (Cat(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
      return false;
    default:
      return true;
  }
}

bool PyIsAlpha(char32_t c) {
  auto k = Cat(c);
  return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT ||
         k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_LO;
}
bool PyIsDigit(char32_t c) { return Cat(c) == UTF8PROC_CATEGORY_ND; }
bool PyIsAlnum(char32_t c) {
  auto k = Cat(c);
  return PyIsAlpha(c) || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}
bool PyIsLower(char32_t c) { return Cat(c) == UTF8PROC_CATEGORY_LL; }
bool PyIsUpper(char32_t c) { return Cat(c) == UTF8PROC_CATEGORY_LU; }
bool PyIsTitle(char32_t c) { return Cat(c) == UTF8PROC_CATEGORY_LT; }
bool PyIsCased(char32_t c) { return PyIsLower(c) || PyIsUpper(c) || PyIsTitle(c); }

bool IsIdentStart(char32_t c) {
  if (c < 0x80) return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return PyIsAlpha(c) || Cat(c) == UTF8PROC_CATEGORY_NL;
}
bool IsIdentContinue(char32_t c) {
  if (c < 0x80) return IsIdentStart(c) || (c >= '0' && c <= '9');
  auto k = Cat(c);
  return IsIdentStart(c) || k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ND ||
         k == UTF8PROC_CATEGORY_PC;
}

// Simple (one-to-one) case mappings; Python's full mappings (e.g. 'ß'.upper() == 'SS') differ
// for a handful of characters.
char32_t PyUpper(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') ? c - 32 : c;
  return c > 0x10FFFF ? c : static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(c)));
}
char32_t PyLower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  return c > 0x10FFFF ? c : static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c)));
}
char32_t PyTitle(char32_t c) {
  if (c < 0x80) return PyUpper(c);
  return c > 0x10FFFF ? c : static_cast<char32_t>(utf8proc_totitle(static_cast<utf8proc_int32_t>(c)));
}

template <typename F>
static std::string MapChars(std::string_view s, F f) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) AppendUtf8(&out, f(DecodeUtf8(s, &i)));
  return out;
}

std::string StrUpper(std::string_view s) { return MapChars(s, PyUpper); }
std::string StrLower(std::string_view s) { return MapChars(s, PyLower); }
std::string StrSwapCase(std::string_view s) {
  return MapChars(s, [](char32_t c) { return PyIsUpper(c) ? PyLower(c) : PyIsLower(c) ? PyUpper(c) : c; });
}

std::string StrTitle(std::string_view s) {
  bool prev_cased = false;
  return MapChars(s, [&](char32_t c) {
    char32_t r = prev_cased ? PyLower(c) : PyTitle(c);
    prev_cased = PyIsCased(c);
    return r;
  });
}

std::string StrCapitalize(std::string_view s) {
  bool first = true;
  return MapChars(s, [&](char32_t c) {
    char32_t r = first ? PyTitle(c) : PyLower(c);
    first = false;
    return r;
  });
}

std::string StrStrip(std::string_view s, const std::string* chars, bool left, bool right) {
  auto cps = ToCodePoints(s);
  std::vector<char32_t> set;
  if (chars) set = ToCodePoints(*chars);
  auto strip_it = [&](char32_t c) {
    if (!chars) return PyIsSpace(c);
    for (char32_t x : set)
      if (x == c) return true;
    return false;
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return FromCodePoints(cps, b, e);
}

std::vector<std::string> StrSplitWhitespace(std::string_view s, int64_t maxsplit) {
  auto cps = ToCodePoints(s);
  std::vector<std::string> out;
  size_t i = 0, n = cps.size();
  while (true) {
    while (i < n && PyIsSpace(cps[i])) ++i;
    if (i >= n) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      // The rest, trailing whitespace included, is the last piece (as in CPython).
      out.push_back(FromCodePoints(cps, i, n));
      break;
    }
    size_t j = i;
    while (j < n && !PyIsSpace(cps[j])) ++j;
    out.push_back(FromCodePoints(cps, i, j));
    i = j;
  }
  return out;
}

std::vector<std::string> StrRSplitWhitespace(std::string_view s, int64_t maxsplit) {
  auto cps = ToCodePoints(s);
  std::vector<std::string> out;
  size_t e = cps.size();
  while (true) {
    while (e > 0 && PyIsSpace(cps[e - 1])) --e;
    if (e == 0) break;
    if (maxsplit >= 0 && static_cast<int64_t>(out.size()) >= maxsplit) {
      out.push_back(FromCodePoints(cps, 0, e));
      break;
    }
    size_t j = e;
    while (j > 0 && !PyIsSpace(cps[j - 1])) --j;
    out.push_back(FromCodePoints(cps, j, e));
    e = j;
  }
  return {out.rbegin(), out.rend()};
}

std::vector<std::string> StrSplit(std::string_view s, std::string_view sep, int64_t maxsplit) {
  std::vector<std::string> out;
  size_t start = 0;
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    size_t p = s.find(sep, start);
    if (p == std::string_view::npos) break;
    out.emplace_back(s.substr(start, p - start));
    start = p + sep.size();
  }
  out.emplace_back(s.substr(start));
  return out;
}

std::vector<std::string> StrRSplit(std::string_view s, std::string_view sep, int64_t maxsplit) {
  std::vector<std::string> out;
  size_t end = s.size();
  while (maxsplit < 0 || static_cast<int64_t>(out.size()) < maxsplit) {
    if (end < sep.size()) break;
    size_t p = s.rfind(sep, end - sep.size());
    if (p == std::string_view::npos) break;
    out.emplace_back(s.substr(p + sep.size(), end - p - sep.size()));
    end = p;
  }
  out.emplace_back(s.substr(0, end));
  return {out.rbegin(), out.rend()};
}

std::vector<std::string> StrSplitLines(std::string_view s, bool keepends) {
  auto cps = ToCodePoints(s);
  std::vector<std::string> out;
  size_t i = 0, start = 0, n = cps.size();
  while (i < n) {
    char32_t c = cps[i];
    size_t eol = 0;
    if (c == '\r' && i + 1 < n && cps[i + 1] == '\n') {
      eol = 2;
    } else if (c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
               c == 0x2028 || c == 0x2029) {
      eol = 1;
    }
    if (eol) {
      out.push_back(FromCodePoints(cps, start, keepends ? i + eol : i));
      i += eol;
      start = i;
    } else {
      ++i;
    }
  }
  if (start < n) out.push_back(FromCodePoints(cps, start, n));
  return out;
}

std::string StrReplace(std::string_view s, std::string_view old_s, std::string_view new_s, int64_t count) {
  std::string out;
  if (old_s.empty()) {
    // Python inserts `new` before every code point and at the end.
    int64_t done = 0;
    size_t i = 0;
    while (i < s.size()) {
      if (count < 0 || done < count) out.append(new_s), ++done;
      size_t j = i;
      DecodeUtf8(s, &j);
      out.append(s.substr(i, j - i));
      i = j;
    }
    if (count < 0 || done < count) out.append(new_s);
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  while (count < 0 || done < count) {
    size_t p = s.find(old_s, start);
    if (p == std::string_view::npos) break;
    out.append(s.substr(start, p - start));
    out.append(new_s);
    start = p + old_s.size();
    ++done;
  }
  out.append(s.substr(start));
  return out;
}

}  // namespace qs::jinja
