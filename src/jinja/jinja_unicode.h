// UTF-8 helpers for the Jinja interpreter. Python strings are sequences of code points, so
// len(), indexing, slicing, strip(chars), upper() ... must work on code points, not bytes.
//
// Invalid UTF-8 never makes these fail: a stray byte b decodes to the lone surrogate U+DC00+b
// (Python's "surrogateescape") and encodes back to the same byte, so arbitrary bytes round-trip.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qs::jinja {

// Decodes the code point at s[*pos] and advances *pos past it.
char32_t DecodeUtf8(std::string_view s, size_t* pos);
void AppendUtf8(std::string* out, char32_t cp);
std::vector<char32_t> ToCodePoints(std::string_view s);
std::string FromCodePoints(const std::vector<char32_t>& cps, size_t begin = 0, size_t end = SIZE_MAX);
// Number of code points.
size_t CodePointCount(std::string_view s);
// Byte offset -> code point index (for str.find and friends).
size_t CodePointIndex(std::string_view s, size_t byte_offset);

// Python's str.isspace() (== re's \s for str patterns).
bool PyIsSpace(char32_t c);
// Python's str.isprintable() for one character (repr() escapes the others).
bool PyIsPrintable(char32_t c);
bool PyIsAlpha(char32_t c);
bool PyIsDigit(char32_t c);
bool PyIsAlnum(char32_t c);
bool PyIsLower(char32_t c);
bool PyIsUpper(char32_t c);
bool PyIsTitle(char32_t c);
bool PyIsCased(char32_t c);
// Identifier characters as jinja2's name regex accepts them.
bool IsIdentStart(char32_t c);
bool IsIdentContinue(char32_t c);

char32_t PyUpper(char32_t c);
char32_t PyLower(char32_t c);
char32_t PyTitle(char32_t c);

std::string StrUpper(std::string_view s);
std::string StrLower(std::string_view s);
std::string StrTitle(std::string_view s);       // Python str.title()
std::string StrCapitalize(std::string_view s);  // Python str.capitalize()
std::string StrSwapCase(std::string_view s);

// Python str.strip()/lstrip()/rstrip(): chars == nullptr strips whitespace.
std::string StrStrip(std::string_view s, const std::string* chars, bool left, bool right);
// Python str.split(sep=None, maxsplit=-1) with sep == nullptr (whitespace runs).
std::vector<std::string> StrSplitWhitespace(std::string_view s, int64_t maxsplit);
std::vector<std::string> StrRSplitWhitespace(std::string_view s, int64_t maxsplit);
std::vector<std::string> StrSplit(std::string_view s, std::string_view sep, int64_t maxsplit);
std::vector<std::string> StrRSplit(std::string_view s, std::string_view sep, int64_t maxsplit);
// Python str.splitlines(keepends=False).
std::vector<std::string> StrSplitLines(std::string_view s, bool keepends);
// Python str.replace(old, new, count): empty `old` inserts between code points.
std::string StrReplace(std::string_view s, std::string_view old_s, std::string_view new_s, int64_t count);

}  // namespace qs::jinja
