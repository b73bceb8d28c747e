// Jinja lexer, a port of jinja2's (3.1) with the environment transformers uses:
// default delimiters, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False.
//
// The whitespace rules are where renders usually go wrong, so they follow lexer.py exactly:
//  * all newlines (\r\n, \r, \n) become \n and one trailing \n of the source is dropped;
//  * "{%-", "{{-", "{#-" strip all (Unicode) whitespace before the tag; "-%}", "-}}", "-#}" after;
//  * trim_blocks: "%}" / "#}" eat one following \n ("+%}" keeps it);
//  * lstrip_blocks: spaces/tabs (any whitespace but \n) between the start of a line and "{%" / "{#"
//    are removed ("{%+" keeps them); never for "{{".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace qs::jinja {

struct SrcPos {
  int line = 1;
  int col = 1;
};
// "line L, column C"
std::string PosString(SrcPos p);

enum class Tok : uint8_t { kData, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEof };

struct Token {
  Tok type = Tok::kEof;
  std::string text;  // data, name, decoded string literal, operator
  int64_t ival = 0;
  double fval = 0;
  SrcPos pos;
};

Result<std::vector<Token>> Lex(std::string_view source);

}  // namespace qs::jinja
