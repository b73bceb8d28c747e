// str.format() with Python's format-spec mini-language, as jinja2's SandboxedFormatter runs it
// (field lookups go through the sandboxed getattr/getitem).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "jinja/jinja_interp.h"
#include "jinja/jinja_unicode.h"

namespace qs::jinja {
namespace {

struct Spec {
  std::string fill = " ";
  char align = 0, sign = '-', type = 0;
  bool alt = false, zero = false;
  int64_t width = -1, precision = -1;
  char grouping = 0;
};

Result<Spec> ParseSpec(const std::string& s) {
  Spec sp;
  auto cps = ToCodePoints(s);
  size_t i = 0;
  auto is_align = [](char32_t c) { return c == '<' || c == '>' || c == '=' || c == '^'; };
  if (cps.size() >= 2 && is_align(cps[1])) {
    sp.fill.clear();
    AppendUtf8(&sp.fill, cps[0]);
    sp.align = static_cast<char>(cps[1]);
    i = 2;
  } else if (!cps.empty() && is_align(cps[0])) {
    sp.align = static_cast<char>(cps[0]);
    i = 1;
  }
  if (i < cps.size() && (cps[i] == '+' || cps[i] == '-' || cps[i] == ' ')) sp.sign = static_cast<char>(cps[i++]);
  if (i < cps.size() && cps[i] == 'z') ++i;
  if (i < cps.size() && cps[i] == '#') sp.alt = true, ++i;
  if (i < cps.size() && cps[i] == '0') sp.zero = true, ++i;
  auto digits = [&](int64_t* out) {
    if (i >= cps.size() || cps[i] < '0' || cps[i] > '9') return;
    *out = 0;
    while (i < cps.size() && cps[i] >= '0' && cps[i] <= '9')
      *out = std::min<int64_t>(*out * 10 + (cps[i++] - '0'), 1 << 20);
  };
  digits(&sp.width);
  if (i < cps.size() && (cps[i] == ',' || cps[i] == '_')) sp.grouping = static_cast<char>(cps[i++]);
  if (i < cps.size() && cps[i] == '.') {
    ++i;
    digits(&sp.precision);
    if (sp.precision < 0) return InvalidArgument("Format specifier missing precision");
  }
  if (i < cps.size()) sp.type = static_cast<char>(cps[i++]);
  if (i != cps.size()) return InvalidArgument("Invalid format specifier '" + s + "'");
  return sp;
}

std::string Group(const std::string& digits, char sep) {
  std::string out;
  int n = static_cast<int>(digits.size());
  for (int i = 0; i < n; ++i) {
    if (i && (n - i) % 3 == 0) out += sep;
    out += digits[i];
  }
  return out;
}

std::string Pad(const std::string& body, const std::string& prefix, const Spec& sp, char default_align) {
  char align = sp.align ? sp.align : (sp.zero ? '=' : default_align);
  std::string fill = (sp.zero && !sp.align) ? "0" : sp.fill;
  int64_t n = static_cast<int64_t>(CodePointCount(body) + CodePointCount(prefix));
  int64_t pad = sp.width > n ? sp.width - n : 0;
  auto rep = [&](int64_t k) {
    std::string s;
    for (int64_t i = 0; i < k; ++i) s += fill;
    return s;
  };
  switch (align) {
    case '<':
      return prefix + body + rep(pad);
    case '^':
      return rep(pad / 2) + prefix + body + rep(pad - pad / 2);
    case '=':
      return prefix + rep(pad) + body;
    default:
      return rep(pad) + prefix + body;
  }
}

Result<std::string> FormatValue(const Value& v, const std::string& spec_text) {
  if (spec_text.empty()) return Str(v);
  QS_ASSIGN_OR_RETURN(Spec sp, ParseSpec(spec_text));
  if (v.is_string()) {
    if (sp.type && sp.type != 's')
      return InvalidArgument(std::string("Unknown format code '") + sp.type + "' for object of type 'str'");
    std::string s = v.str();
    if (sp.precision >= 0) s = FromCodePoints(ToCodePoints(s), 0, sp.precision);
    return Pad(s, "", sp, '<');
  }
  if (!v.is_number()) return InvalidArgument("unsupported format string passed to " + TypeName(v) + ".__format__");
  std::string prefix;
  bool neg = false;
  std::string body;
  char t = sp.type;
  if (v.is_integral() && (t == 0 || t == 'd' || t == 'n' || t == 'x' || t == 'X' || t == 'o' || t == 'b' || t == 'c')) {
    int64_t x = v.as_int();
    neg = x < 0;
    uint64_t u = neg ? 0 - static_cast<uint64_t>(x) : static_cast<uint64_t>(x);
    if (t == 'c') return Pad(std::string(1, static_cast<char>(u)), "", sp, '<');
    int base = (t == 'x' || t == 'X') ? 16 : t == 'o' ? 8 : t == 'b' ? 2 : 10;
    do {
      int d = static_cast<int>(u % base);
      body.insert(body.begin(), static_cast<char>(d < 10 ? '0' + d : (t == 'X' ? 'A' : 'a') + d - 10));
      u /= base;
    } while (u);
    if (sp.grouping && base == 10) body = Group(body, sp.grouping);
    if (sp.alt && base != 10) prefix = base == 16 ? (t == 'X' ? "0X" : "0x") : base == 8 ? "0o" : "0b";
  } else {
    if (t && std::string("eEfFgGn%").find(t) == std::string::npos)
      return InvalidArgument(std::string("Unknown format code '") + t + "' for object of type '" + TypeName(v) + "'");
    double d = v.as_float();
    neg = std::signbit(d) && !std::isnan(d);
    d = std::fabs(d);
    char buf[512];
    int prec = static_cast<int>(sp.precision < 0 ? 6 : std::min<int64_t>(sp.precision, 100));
    if (t == 0 && sp.precision < 0) {
      body = FormatFloat(d);
    } else if (t == '%') {
      std::snprintf(buf, sizeof buf, "%.*f", prec, d * 100);
      body = std::string(buf) + "%";
    } else {
      char conv = (t == 0 || t == 'n') ? 'g' : t;
      char f[8] = {'%', '.', '*', conv, 0};
      if (sp.alt) f[0] = '%', f[1] = '#', f[2] = '.', f[3] = '*', f[4] = conv, f[5] = 0;
      std::snprintf(buf, sizeof buf, f, prec, d);
      body = buf;
      if (t == 0 && body.find_first_of(".en") == std::string::npos) body += ".0";
    }
    if (sp.grouping) {
      size_t end = body.find_first_not_of("0123456789");
      body = Group(body.substr(0, end), sp.grouping) + (end == std::string::npos ? "" : body.substr(end));
    }
  }
  std::string sign = neg ? "-" : sp.sign == '+' ? "+" : sp.sign == ' ' ? " " : "";
  return Pad(body, sign + prefix, sp, '>');
}

}  // namespace

Result<Value> StrFormatM(Interp& in, const Value& self, CallArgs& a) {
  const std::string& f = self.str();
  std::string out;
  int auto_index = 0;
  bool manual = false, automatic = false;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if (c == '}') {
      if (i + 1 < f.size() && f[i + 1] == '}') {
        out += '}';
        ++i;
        continue;
      }
      return InvalidArgument("Single '}' encountered in format string");
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < f.size() && f[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    // Find the matching '}' (the spec may nest one level of {}).
    size_t j = i + 1;
    int depth = 1;
    for (; j < f.size() && depth; ++j) {
      if (f[j] == '{') ++depth;
      if (f[j] == '}') --depth;
    }
    if (depth) return InvalidArgument("expected '}' before end of string");
    std::string field = f.substr(i + 1, j - i - 2);
    i = j - 1;
    std::string spec, conv;
    size_t colon = std::string::npos;
    for (size_t k = 0, br = 0; k < field.size(); ++k) {
      if (field[k] == '[') ++br;
      if (field[k] == ']' && br) --br;
      if (!br && field[k] == ':') {
        colon = k;
        break;
      }
    }
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    size_t bang = field.find('!');
    if (bang != std::string::npos) {
      conv = field.substr(bang + 1);
      field.resize(bang);
    }
    size_t first_end = field.find_first_of(".[");
    std::string head = field.substr(0, first_end);
    Value v;
    if (head.empty() || (head.find_first_not_of("0123456789") == std::string::npos)) {
      size_t idx;
      if (head.empty()) {
        if (manual)
          return InvalidArgument("cannot switch from manual field specification to automatic field numbering");
        automatic = true;
        idx = auto_index++;
      } else {
        if (automatic)
          return InvalidArgument("cannot switch from automatic field numbering to manual field specification");
        manual = true;
        idx = std::stoul(head.substr(0, 9));
      }
      if (idx >= a.pos.size())
        return InvalidArgument("Replacement index " + std::to_string(idx) + " out of range for positional args tuple");
      v = a.pos[idx];
    } else {
      auto it = std::find_if(a.kw.begin(), a.kw.end(), [&](const auto& e) { return e.first == head; });
      if (it == a.kw.end()) return InvalidArgument("KeyError: " + ReprString(head));
      v = it->second;
    }
    // .attr and [key] chains.
    for (size_t k = first_end; k != std::string::npos && k < field.size();) {
      if (field[k] == '.') {
        size_t e = field.find_first_of(".[", k + 1);
        std::string attr = field.substr(k + 1, e == std::string::npos ? std::string::npos : e - k - 1);
        QS_ASSIGN_OR_RETURN(v, in.GetAttr(v, attr));
        k = e;
      } else {
        size_t e = field.find(']', k);
        if (e == std::string::npos) return InvalidArgument("Missing ']' in format string");
        std::string key = field.substr(k + 1, e - k - 1);
        Value kv = (!key.empty() && key.find_first_not_of("0123456789") == std::string::npos)
                       ? Value(static_cast<int64_t>(std::stoll(key.substr(0, 18))))
                       : Value(key);
        QS_ASSIGN_OR_RETURN(v, in.GetItem(v, kv));
        k = e + 1;
        if (k < field.size() && field[k] != '.' && field[k] != '[')
          return InvalidArgument("Only '.' or '[' may follow ']' in format field specifier");
      }
    }
    if (v.is_undefined()) return UndefinedError(v);
    if (conv == "r" || conv == "a") {
      v = Value(Repr(v));
    } else if (conv == "s") {
      v = Value(Str(v));
    } else if (!conv.empty()) {
      return InvalidArgument("Unknown conversion specifier " + conv);
    }
    if (spec.find('{') != std::string::npos) {
      // Nested fields inside the spec, e.g. "{:>{width}}".
      CallArgs sub = a;
      QS_ASSIGN_OR_RETURN(Value s, StrFormatM(in, Value(spec), sub));
      spec = s.str();
    }
    QS_ASSIGN_OR_RETURN(std::string piece, FormatValue(v, spec));
    out += piece;
    QS_RETURN_IF_ERROR(in.CheckSize(out.size()));
  }
  return Value(std::move(out));
}

}  // namespace qs::jinja
