#include "jinja/jinja_lexer.h"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "jinja/jinja_unicode.h"
#include "jinja/jinja_value.h"

namespace qs::jinja {

std::string PosString(SrcPos p) { return "line " + std::to_string(p.line) + ", column " + std::to_string(p.col); }

namespace {

// Newline normalisation and the dropped trailing newline (lexer.tokeniter's first lines).
std::string Normalize(std::string_view src) {
  std::string s;
  s.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      s.push_back('\n');
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      s.push_back(src[i]);
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  explicit Lexer(std::string_view src) : s_(Normalize(src)) {}

  Result<std::vector<Token>> Run() {
    size_t pos = 0;
    while (pos < s_.size()) {
      size_t k = FindTagStart(pos);
      if (k == std::string::npos) {
        Emit(Tok::kData, s_.substr(pos), pos);
        break;
      }
      char kind = s_[k + 1];  // '{', '%' or '#'
      size_t after = k + 2;
      char sign = (after < s_.size() && (s_[after] == '-' || s_[after] == '+')) ? s_[after] : 0;
      size_t raw_end = kind == '%' ? MatchRawBegin(k) : 0;
      std::string text = s_.substr(pos, k - pos);
      StripBefore(&text, sign, kind != '{');
      if (!text.empty()) Emit(Tok::kData, text, pos);
      if (raw_end) {
        line_starting_ = s_[raw_end - 1] == '\n';
        QS_ASSIGN_OR_RETURN(pos, LexRaw(raw_end, k));
        continue;
      }
      if (sign) ++after;
      if (kind == '#') {
        QS_ASSIGN_OR_RETURN(pos, SkipComment(after, k));
        continue;
      }
      Emit(kind == '{' ? Tok::kVarBegin : Tok::kBlockBegin, "", k);
      QS_ASSIGN_OR_RETURN(pos, LexTag(after, kind == '%'));
    }
    Emit(Tok::kEof, "", s_.size());
    return std::move(toks_);
  }

 private:
  // Tokens are emitted in source order, so positions advance from a cursor (linear overall;
  // counting from the line start each time is quadratic on huge single-line templates).
  SrcPos PosAt(size_t off) {
    if (off < cur_off_) {
      cur_off_ = 0;
      cur_pos_ = SrcPos{};
    }
    while (cur_off_ < off && cur_off_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[cur_off_++]);
      if (c == '\n') {
        ++cur_pos_.line;
        cur_pos_.col = 1;
      } else if ((c & 0xC0) != 0x80) {
        ++cur_pos_.col;
      }
    }
    return cur_pos_;
  }

  Status Error(size_t off, const std::string& msg) {
    return InvalidArgument("template syntax error at " + PosString(PosAt(off)) + ": " + msg);
  }

  void Emit(Tok t, std::string text, size_t off) {
    Token tok;
    tok.type = t;
    tok.text = std::move(text);
    tok.pos = PosAt(off);
    toks_.push_back(std::move(tok));
  }

  size_t FindTagStart(size_t pos) const {
    for (size_t i = s_.find('{', pos); i != std::string::npos && i + 1 < s_.size(); i = s_.find('{', i + 1)) {
      char c = s_[i + 1];
      if (c == '{' || c == '%' || c == '#') return i;
    }
    return std::string::npos;
  }

  size_t SkipSpace(size_t i) const {
    while (i < s_.size()) {
      size_t j = i;
      if (!PyIsSpace(DecodeUtf8(s_, &j))) break;
      i = j;
    }
    return i;
  }

  // Applies "-" stripping or lstrip_blocks to the text before a tag.
  void StripBefore(std::string* text, char sign, bool lstrip_allowed) const {
    if (sign == '-') {
      *text = StrStrip(*text, nullptr, false, true);
    } else if (sign != '+' && lstrip_allowed) {
      size_t l = text->rfind('\n');
      l = (l == std::string::npos) ? 0 : l + 1;
      if ((l > 0 || line_starting_) && l < text->size()) {
        std::string_view tail = std::string_view(*text).substr(l);
        bool all_space = true;
        for (size_t i = 0; i < tail.size() && all_space;) all_space = PyIsSpace(DecodeUtf8(tail, &i));
        if (all_space) text->resize(l);
      }
    }
  }

  // "{% raw %}" / "{%- raw -%}": returns the offset after it, or 0.
  size_t MatchRawBegin(size_t k) const {
    size_t i = k + 2;
    if (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) ++i;
    i = SkipSpace(i);
    if (s_.compare(i, 3, "raw") != 0) return 0;
    i = SkipSpace(i + 3);
    if (s_.compare(i, 3, "-%}") == 0) return SkipSpace(i + 3);
    if (s_.compare(i, 2, "%}") == 0) return i + 2;
    return 0;
  }

  // Applies the end-of-tag whitespace rule after "%}"/"#}" (with its sign); returns the new offset.
  size_t AfterEnd(size_t i, char sign, bool trim_newline) {
    if (sign == '-') {
      size_t j = SkipSpace(i);
      line_starting_ = j > i && s_[j - 1] == '\n';
      return j;
    }
    if (sign != '+' && trim_newline && i < s_.size() && s_[i] == '\n') {
      line_starting_ = true;
      return i + 1;
    }
    line_starting_ = false;
    return i;
  }

  Result<size_t> LexRaw(size_t body, size_t tag_off) {
    for (size_t k = s_.find("{%", body); k != std::string::npos; k = s_.find("{%", k + 1)) {
      size_t i = k + 2;
      char sign = (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) ? s_[i] : 0;
      if (sign) ++i;
      i = SkipSpace(i);
      if (s_.compare(i, 6, "endraw") != 0) continue;
      i = SkipSpace(i + 6);
      char end_sign = 0;
      if (i < s_.size() && (s_[i] == '-' || s_[i] == '+')) end_sign = s_[i++];
      if (s_.compare(i, 2, "%}") != 0) continue;
      std::string text = s_.substr(body, k - body);
      StripBefore(&text, sign, true);
      if (!text.empty()) Emit(Tok::kData, text, body);
      return AfterEnd(i + 2, end_sign, true);
    }
    return Error(tag_off, "Missing end of raw directive");
  }

  Result<size_t> SkipComment(size_t body, size_t tag_off) {
    size_t k = s_.find("#}", body);
    if (k == std::string::npos) return Error(tag_off, "Missing end of comment tag");
    char sign = 0;
    if (k > body && (s_[k - 1] == '-' || s_[k - 1] == '+')) sign = s_[k - 1];
    return AfterEnd(k + 2, sign, true);
  }

  // Tokens inside {{ }} / {% %} up to the end delimiter; returns the offset after it.
  Result<size_t> LexTag(size_t i, bool block) {
    std::vector<char> balance;
    while (true) {
      if (i >= s_.size()) return i;  // the parser reports the unexpected end with context
      if (balance.empty()) {
        if (block) {
          if (s_.compare(i, 3, "+%}") == 0) return Close(Tok::kBlockEnd, i, AfterEnd(i + 3, '+', true));
          if (s_.compare(i, 3, "-%}") == 0) return Close(Tok::kBlockEnd, i, AfterEnd(i + 3, '-', true));
          if (s_.compare(i, 2, "%}") == 0) return Close(Tok::kBlockEnd, i, AfterEnd(i + 2, 0, true));
        } else {
          if (s_.compare(i, 3, "-}}") == 0) return Close(Tok::kVarEnd, i, AfterEnd(i + 3, '-', false));
          if (s_.compare(i, 2, "}}") == 0) return Close(Tok::kVarEnd, i, AfterEnd(i + 2, 0, false));
        }
      }
      size_t j = i;
      char32_t c = DecodeUtf8(s_, &j);
      if (PyIsSpace(c)) {
        i = SkipSpace(i);
        continue;
      }
      size_t end;
      if (IsDigit(s_[i])) {
        QS_ASSIGN_OR_RETURN(end, LexNumber(i));
        i = end;
        continue;
      }
      if (IsIdentStart(c)) {
        while (j < s_.size()) {
          size_t q = j;
          if (!IsIdentContinue(DecodeUtf8(s_, &q))) break;
          j = q;
        }
        Emit(Tok::kName, s_.substr(i, j - i), i);
        i = j;
        continue;
      }
      if (c == '\'' || c == '"') {
        QS_ASSIGN_OR_RETURN(end, LexString(i));
        i = end;
        continue;
      }
      static const char* kOps[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                   "]",  "(",  ")",  "{",  "}",  ">",  "<", "=", ".", ":", "|", ",", ";"};
      const char* op = nullptr;
      for (const char* o : kOps) {
        if (s_.compare(i, std::char_traits<char>::length(o), o) == 0) {
          op = o;
          break;
        }
      }
      if (!op) {
        std::string ch = s_.substr(i, j - i);
        return Error(i, "unexpected char " + ReprString(ch));
      }
      char oc = op[0];
      if (op[1] == 0 && (oc == '(' || oc == '[' || oc == '{')) {
        balance.push_back(oc == '(' ? ')' : oc == '[' ? ']' : '}');
      } else if (op[1] == 0 && (oc == ')' || oc == ']' || oc == '}')) {
        if (balance.empty()) return Error(i, std::string("unexpected '") + oc + "'");
        if (balance.back() != oc)
          return Error(i, std::string("unexpected '") + oc + "', expected '" + balance.back() + "'");
        balance.pop_back();
      }
      Emit(Tok::kOp, op, i);
      i += std::char_traits<char>::length(op);
    }
  }

  size_t Close(Tok t, size_t at, size_t next) {
    Emit(t, "", at);
    return next;
  }

  // (\d+_)*\d+ starting at i; returns the end or i when there is no digit.
  size_t DigitGroup(size_t i, bool (*ok)(char)) const {
    size_t j = i;
    while (j < s_.size() && ok(s_[j])) {
      ++j;
      if (j + 1 < s_.size() && s_[j] == '_' && ok(s_[j + 1])) ++j;
    }
    return j;
  }

  static bool Dec(char c) { return c >= '0' && c <= '9'; }
  static bool Bin(char c) { return c == '0' || c == '1'; }
  static bool Oct(char c) { return c >= '0' && c <= '7'; }
  static bool Hex(char c) { return Dec(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

  Result<size_t> LexNumber(size_t i) {
    // float_re first (it may not start right after a '.'), then integer_re.
    if (i == 0 || s_[i - 1] != '.') {
      size_t j = DigitGroup(i, Dec);
      size_t frac = j;
      if (j + 1 < s_.size() && s_[j] == '.' && Dec(s_[j + 1])) frac = DigitGroup(j + 1, Dec);
      size_t e = frac;
      if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
        size_t q = e + 1;
        if (q < s_.size() && (s_[q] == '+' || s_[q] == '-')) ++q;
        size_t qe = (q < s_.size() && Dec(s_[q])) ? DigitGroup(q, Dec) : q;
        e = qe > q ? qe : frac;
      }
      if (e > j) {
        std::string txt = s_.substr(i, e - i);
        txt.erase(std::remove(txt.begin(), txt.end(), '_'), txt.end());
        double d = 0;
        std::from_chars(txt.data(), txt.data() + txt.size(), d);
        Emit(Tok::kFloat, txt, i);
        toks_.back().fval = d;
        return e;
      }
    }
    int base = 10;
    size_t j = i, digits = i;
    if (s_[i] == '0' && i + 2 < s_.size()) {
      char p = s_[i + 1] | 0x20;
      bool (*ok)(char) = p == 'b' ? Bin : p == 'o' ? Oct : p == 'x' ? Hex : nullptr;
      if (ok) {
        size_t q = i + 2;
        if (s_[q] == '_' && q + 1 < s_.size() && ok(s_[q + 1])) ++q;
        if (ok(s_[q])) {
          base = p == 'b' ? 2 : p == 'o' ? 8 : 16;
          digits = q;
          j = DigitGroup(q, ok);
        }
      }
    }
    if (base == 10) {
      if (s_[i] == '0') {
        j = i + 1;  // 0(_?0)*
        while (j < s_.size() && (s_[j] == '0' || (s_[j] == '_' && j + 1 < s_.size() && s_[j + 1] == '0'))) ++j;
      } else {
        j = DigitGroup(i, Dec);
      }
    }
    std::string txt = s_.substr(digits, j - digits);
    txt.erase(std::remove(txt.begin(), txt.end(), '_'), txt.end());
    int64_t v = 0;
    auto r = std::from_chars(txt.data(), txt.data() + txt.size(), v, base);
    if (r.ec != std::errc()) return Error(i, "integer literal too large");
    Emit(Tok::kInt, s_.substr(i, j - i), i);
    toks_.back().ival = v;
    return j;
  }

  // A quoted literal, unescaped as Python's unicode-escape codec does (how jinja2 decodes them).
  Result<size_t> LexString(size_t i) {
    char q = s_[i];
    size_t j = i + 1;
    while (j < s_.size() && s_[j] != q) {
      if (s_[j] == '\\') {
        ++j;
        if (j < s_.size()) DecodeUtf8(s_, &j);
      } else {
        ++j;
      }
    }
    if (j >= s_.size()) return Error(i, std::string("unexpected char ") + ReprString(std::string(1, q)));
    std::string_view body = std::string_view(s_).substr(i + 1, j - i - 1);
    std::string out;
    for (size_t p = 0; p < body.size();) {
      char32_t c = DecodeUtf8(body, &p);
      if (c != '\\') {
        AppendUtf8(&out, c);
        continue;
      }
      char32_t e = DecodeUtf8(body, &p);
      auto hex = [&](int n, char32_t* v) {
        *v = 0;
        for (int k = 0; k < n; ++k) {
          if (p >= body.size() || !Hex(body[p])) return false;
          char h = body[p++] | 0x20;
          *v = *v * 16 + static_cast<char32_t>(h <= '9' ? h - '0' : h - 'a' + 10);
        }
        return true;
      };
      char32_t v = 0;
      char buf[16];
      switch (e) {
        case '\n':
          break;
        case '\\':
        case '\'':
        case '"':
          AppendUtf8(&out, e);
          break;
        case 'a':
          out += '\a';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
          if (!hex(2, &v)) return Error(i, "(unicode error) truncated \\xXX escape");
          AppendUtf8(&out, v);
          break;
        case 'u':
          if (!hex(4, &v)) return Error(i, "(unicode error) truncated \\uXXXX escape");
          AppendUtf8(&out, v);
          break;
        case 'U':
          if (!hex(8, &v) || v > 0x10FFFF) return Error(i, "(unicode error) illegal Unicode character");
          AppendUtf8(&out, v);
          break;
        case 'N':
          return Error(i, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            v = e - '0';
            for (int k = 0; k < 2 && p < body.size() && Oct(body[p]); ++k) v = v * 8 + (body[p++] - '0');
            AppendUtf8(&out, v);
          } else if (e >= 0x80) {
            // jinja2 encodes the literal with backslashreplace before decoding: "\é" -> "\xe9".
            std::snprintf(buf, sizeof buf,
                          e <= 0xFF     ? "\\x%02x"
                          : e <= 0xFFFF ? "\\u%04x"
                                        : "\\U%08x",
                          static_cast<unsigned>(e));
            out += buf;
          } else {
            out += '\\';
            AppendUtf8(&out, e);
          }
      }
    }
    Emit(Tok::kString, out, i);
    return j + 1;
  }

  std::string s_;
  size_t cur_off_ = 0;
  SrcPos cur_pos_;
  std::vector<Token> toks_;
  bool line_starting_ = true;
};

}  // namespace

Result<std::vector<Token>> Lex(std::string_view source) { return Lexer(source).Run(); }

}  // namespace qs::jinja
