// Operators (Python semantics: int/float promotion, floor division and modulo signs, str/list
// concatenation and repetition, printf-style %), subscripts and attribute lookup as jinja2's
// sandboxed environment performs them.
#include <cmath>
#include <cstdio>

#include "jinja/jinja_interp.h"
#include "jinja/jinja_unicode.h"

namespace qs::jinja {

Status UndefinedError(const Value& u) {
  const std::string& h = u.undefined_hint();
  return InvalidArgument(h.empty() ? "value is undefined" : h);
}

static Status Unsupported(const char* op, const Value& a, const Value& b) {
  return InvalidArgument(std::string("unsupported operand type(s) for ") + op + ": '" + TypeName(a) + "' and '" +
                         TypeName(b) + "'");
}

static Result<Value> Repeat(const Value& seq, int64_t n, const RenderLimits& lim) {
  if (seq.is_list() && seq.list().view != ListData::View::kNone)
    return InvalidArgument("unsupported operand type(s) for *: '" + TypeName(seq) + "' and 'int'");
  if (n < 0) n = 0;
  if (seq.is_string()) {
    const std::string& s = seq.str();
    if (!s.empty() && static_cast<uint64_t>(n) > lim.max_output_bytes / s.size())
      return OutOfRange("string repetition exceeds the render limit");
    std::string out;
    out.reserve(s.size() * n);
    for (int64_t i = 0; i < n; ++i) out += s;
    return Value(std::move(out));
  }
  const auto& items = seq.list().items;
  if (!items.empty() && static_cast<uint64_t>(n) > (lim.max_output_bytes / 8) / items.size())
    return OutOfRange("list repetition exceeds the render limit");
  std::vector<Value> out;
  for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
  return Value::MakeList(std::move(out), seq.list().is_tuple);
}

// CPython's float_divmod.
static void FloatDivMod(double vx, double wx, double* floordiv, double* mod) {
  double m = std::fmod(vx, wx);
  double div = (vx - m) / wx;
  if (m != 0) {
    if ((wx < 0) != (m < 0)) {
      m += wx;
      div -= 1.0;
    }
  } else {
    m = std::copysign(0.0, wx);
  }
  double fd;
  if (div != 0) {
    fd = std::floor(div);
    if (div - fd > 0.5) fd += 1.0;
  } else {
    fd = std::copysign(0.0, vx / wx);
  }
  *floordiv = fd;
  *mod = m;
}

static Status Overflow() { return OutOfRange("integer overflow (Python ints are unbounded, ours are 64-bit)"); }

Result<Value> BinaryOp(const std::string& op, const Value& a, const Value& b, const RenderLimits& lim) {
  if (a.is_undefined()) return UndefinedError(a);
  if (b.is_undefined()) return UndefinedError(b);
  const bool ints = a.is_integral() && b.is_integral();
  const bool nums = a.is_number() && b.is_number();
  const char c = op[0];
  if (op == "+") {
    if (ints) {
      int64_t r;
      if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) return Overflow();
      return Value(r);
    }
    if (nums) return Value(a.as_float() + b.as_float());
    if (a.is_string() && b.is_string()) {
      if (a.str().size() + b.str().size() > lim.max_output_bytes) return OutOfRange("string exceeds the render limit");
      return Value(a.str() + b.str());
    }
    if (a.is_list() && b.is_list() && a.list().is_tuple == b.list().is_tuple &&
        a.list().view == ListData::View::kNone && b.list().view == ListData::View::kNone) {
      std::vector<Value> items = a.list().items;
      items.insert(items.end(), b.list().items.begin(), b.list().items.end());
      return Value::MakeList(std::move(items), a.list().is_tuple);
    }
    if (a.is_string() || (a.is_list() && a.list().view == ListData::View::kNone))
      return InvalidArgument("can only concatenate " + TypeName(a) + " (not \"" + TypeName(b) + "\") to " +
                             TypeName(a));
    return Unsupported("+", a, b);
  }
  if (op == "-") {
    if (ints) {
      int64_t r;
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) return Overflow();
      return Value(r);
    }
    if (nums) return Value(a.as_float() - b.as_float());
    return Unsupported("-", a, b);
  }
  if (op == "*") {
    if (ints) {
      int64_t r;
      if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) return Overflow();
      return Value(r);
    }
    if (nums) return Value(a.as_float() * b.as_float());
    if ((a.is_string() || a.is_list()) && b.is_integral()) return Repeat(a, b.as_int(), lim);
    if ((b.is_string() || b.is_list()) && a.is_integral()) return Repeat(b, a.as_int(), lim);
    if (a.is_string() || b.is_string())
      return InvalidArgument("can't multiply sequence by non-int of type '" + TypeName(a.is_string() ? b : a) + "'");
    return Unsupported("*", a, b);
  }
  if (op == "/") {
    if (!nums) return Unsupported("/", a, b);
    if (b.as_float() == 0) return InvalidArgument("division by zero");
    return Value(a.as_float() / b.as_float());
  }
  if (op == "//" || c == '%') {
    if (c == '%' && a.is_string()) {
      QS_ASSIGN_OR_RETURN(std::string s, PercentFormat(a.str(), b));
      return Value(std::move(s));
    }
    if (!nums) return Unsupported(op.c_str(), a, b);
    if (ints) {
      int64_t x = a.as_int(), y = b.as_int();
      if (y == 0) return InvalidArgument("integer division or modulo by zero");
      if (x == INT64_MIN && y == -1) {
        if (c == '%') return Value(int64_t{0});
        return Overflow();
      }
      int64_t q = x / y, r = x % y;
      if (r != 0 && ((r < 0) != (y < 0))) {
        r += y;
        q -= 1;
      }
      return c == '%' ? Value(r) : Value(q);
    }
    if (b.as_float() == 0) return InvalidArgument(c == '%' ? "float modulo" : "float floor division by zero");
    double fd, m;
    FloatDivMod(a.as_float(), b.as_float(), &fd, &m);
    return c == '%' ? Value(m) : Value(fd);
  }
  if (op == "**") {
    if (!nums) return Unsupported("** or pow()", a, b);
    if (ints && b.as_int() >= 0) {
      int64_t base = a.as_int(), e = b.as_int(), r = 1;
      while (e > 0) {
        if (e & 1)
          if (__builtin_mul_overflow(r, base, &r)) return Overflow();
        e >>= 1;
        if (e > 0 && __builtin_mul_overflow(base, base, &base)) return Overflow();
      }
      return Value(r);
    }
    double x = a.as_float(), y = b.as_float();
    if (x == 0 && y < 0) return InvalidArgument("0.0 cannot be raised to a negative power");
    if (x < 0 && y != std::floor(y)) return InvalidArgument("negative number raised to a fractional power");
    return Value(std::pow(x, y));
  }
  return InvalidArgument("unknown operator " + op);
}

Result<Value> UnaryMinus(const Value& a) {
  if (a.is_undefined()) return UndefinedError(a);
  if (a.is_integral()) {
    if (a.as_int() == INT64_MIN) return Overflow();
    return Value(-a.as_int());
  }
  if (a.is_float()) return Value(-a.as_float());
  return InvalidArgument("bad operand type for unary -: '" + TypeName(a) + "'");
}

Result<bool> Contains(const Value& hay, const Value& needle) {
  switch (hay.kind()) {
    case Value::Kind::kString:
      if (!needle.is_string())
        return InvalidArgument("'in <string>' requires string as left operand, not " + TypeName(needle));
      return hay.str().find(needle.str()) != std::string::npos;
    case Value::Kind::kList:
      for (const auto& x : hay.list().items)
        if (PyEquals(x, needle)) return true;
      return false;
    case Value::Kind::kDict:
      if (!IsHashable(needle)) return InvalidArgument("unhashable type: '" + TypeName(needle) + "'");
      return hay.dict().Find(needle) != nullptr;
    case Value::Kind::kUndefined:
      return false;
    case Value::Kind::kIterator: {
      IterData* it = hay.iter();
      while (it->pos < it->items.size())
        if (PyEquals(it->items[it->pos++], needle)) return true;
      return false;
    }
    default:
      return InvalidArgument("argument of type '" + TypeName(hay) + "' is not iterable");
  }
}

Result<Value> SliceValue(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  for (const Value* v : {&start_v, &stop_v, &step_v})
    if (!v->is_none() && !v->is_integral()) return Value::Undefined("slice indices must be integers or None");
  if ((!obj.is_string() && !obj.is_list()) || (obj.is_list() && obj.list().view != ListData::View::kNone))
    return Value::Undefined("'" + TypeName(obj) + "' object is not subscriptable");
  int64_t step = step_v.is_none() ? 1 : step_v.as_int();
  if (step == 0) return InvalidArgument("slice step cannot be zero");
  std::vector<char32_t> cps;
  int64_t len;
  if (obj.is_string()) {
    cps = ToCodePoints(obj.str());
    len = static_cast<int64_t>(cps.size());
  } else {
    len = static_cast<int64_t>(obj.list().items.size());
  }
  // PySlice_AdjustIndices.
  const int64_t lower = step < 0 ? -1 : 0, upper = step < 0 ? len - 1 : len;
  auto adjust = [&](const Value& v, int64_t dflt) {
    if (v.is_none()) return dflt;
    int64_t x = v.as_int();
    if (x < 0) {
      x += len;
      if (x < lower) x = lower;
    } else if (x > upper) {
      x = upper;
    }
    return x;
  };
  int64_t start = adjust(start_v, step < 0 ? upper : lower);
  int64_t stop = adjust(stop_v, step < 0 ? lower : upper);
  std::vector<int64_t> idx;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) idx.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : idx) AppendUtf8(&out, cps[i]);
    return Value(std::move(out));
  }
  std::vector<Value> items;
  for (int64_t i : idx) items.push_back(obj.list().items[i]);
  return Value::MakeList(std::move(items), obj.list().is_tuple);
}

static std::string ObjDesc(const Value& obj) { return obj.is_none() ? "None" : TypeName(obj) + " object"; }

static Value NoAttr(const Value& obj, const std::string& name) {
  return Value::Undefined("'" + ObjDesc(obj) + "' has no attribute '" + name + "'");
}

static Value Unsafe(const Value& obj, const std::string& name) {
  return Value::Undefined("access to attribute '" + name + "' of '" + TypeName(obj) + "' object is unsafe.");
}

// getattr(obj, name) for the attributes our objects have; nullopt when there is none.
static std::optional<Value> PyGetattr(Interp& in, const Value& obj, const std::string& name) {
  if (obj.is_namespace()) {
    if (Value* v = obj.ns()->Find(name)) return *v;
    return std::nullopt;
  }
  if (obj.is_loop()) {
    auto r = LoopAttr(obj, name);
    if (r.ok() && !r.value().is_undefined()) return r.value();
    return std::nullopt;
  }
  if (obj.is_number()) {
    // The data attributes of int/float (methods like bit_length are not provided).
    if (name == "real") return obj.is_float() ? obj : Value(obj.as_int());
    if (name == "imag") return obj.is_float() ? Value(0.0) : Value(0);
    if (obj.is_integral() && name == "numerator") return Value(obj.as_int());
    if (obj.is_integral() && name == "denominator") return Value(1);
  }
  bool unsafe = false;
  auto m = FindMethod(obj, name, &unsafe);
  if (unsafe) return Unsafe(obj, name);
  if (m) return Value(m);
  return std::nullopt;
}

Result<Value> Interp::GetAttr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (auto v = PyGetattr(*this, obj, name)) return *v;
  if (obj.is_dict()) {
    if (const Value* v = obj.dict().FindStr(name)) return *v;
  }
  return NoAttr(obj, name);
}

Result<Value> Interp::GetItem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return UndefinedError(obj);
  if (obj.is_dict()) {
    if (IsHashable(key))
      if (const Value* v = obj.dict().Find(key)) return *v;
  } else if (obj.is_list() && obj.list().view != ListData::View::kNone) {
    // dict views are not subscriptable: fall through to the attribute lookup.
  } else if ((obj.is_list() || obj.is_string()) && key.is_integral()) {
    int64_t i = key.as_int();
    if (obj.is_list()) {
      const auto& items = obj.list().items;
      int64_t n = static_cast<int64_t>(items.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) return items[i];
    } else {
      auto cps = ToCodePoints(obj.str());
      int64_t n = static_cast<int64_t>(cps.size());
      if (i < 0) i += n;
      if (i >= 0 && i < n) {
        std::string out;
        AppendUtf8(&out, cps[i]);
        return Value(std::move(out));
      }
    }
    return Value::Undefined(ObjDesc(obj) + " has no element " + Repr(key));
  }
  if (key.is_string()) {
    if (auto v = PyGetattr(*this, obj, key.str())) return *v;
    return NoAttr(obj, key.str());
  }
  return Value::Undefined(ObjDesc(obj) + " has no element " + Repr(key));
}

// ---- printf-style formatting ----

static Result<std::string> FormatOne(char conv, const Value& v, int prec) {
  char buf[512];
  switch (conv) {
    case 's':
      return Str(v);
    case 'r':
    case 'a':
      return Repr(v);
    case 'd':
    case 'i':
    case 'u': {
      if (v.is_integral()) return std::to_string(v.as_int());
      if (v.is_float()) {
        double d = std::trunc(v.as_float());
        if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return InvalidArgument("cannot convert float to integer");
        return std::to_string(static_cast<int64_t>(d));
      }
      return InvalidArgument(std::string("%") + conv + " format: a real number is required, not " + TypeName(v));
    }
    case 'x':
    case 'X':
    case 'o': {
      if (!v.is_integral())
        return InvalidArgument(std::string("%") + conv + " format: an integer is required, not " + TypeName(v));
      int64_t x = v.as_int();
      std::snprintf(buf, sizeof buf,
                    conv == 'x'   ? "%llx"
                    : conv == 'X' ? "%llX"
                                  : "%llo",
                    static_cast<unsigned long long>(x < 0 ? -x : x));
      return std::string(x < 0 ? "-" : "") + buf;
    }
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G': {
      if (!v.is_number()) return InvalidArgument("must be real number, not " + TypeName(v));
      char f[8] = {'%', '.', '*', conv, 0};
      std::snprintf(buf, sizeof buf, f, prec < 0 ? 6 : std::min(prec, 100), v.as_float());
      return std::string(buf);
    }
    case 'c': {
      if (v.is_string() && CodePointCount(v.str()) == 1) return v.str();
      if (v.is_integral() && v.as_int() >= 0 && v.as_int() <= 0x10FFFF) {
        std::string out;
        AppendUtf8(&out, static_cast<char32_t>(v.as_int()));
        return out;
      }
      return InvalidArgument("%c requires int or char");
    }
    default:
      return InvalidArgument(std::string("unsupported format character '") + conv + "'");
  }
}

Result<std::string> PercentFormat(const std::string& fmt, const Value& args) {
  std::vector<Value> pos;
  const bool mapping = args.is_dict();
  if (args.is_list() && args.list().is_tuple) {
    pos = args.list().items;
  } else {
    pos.push_back(args);
  }
  size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) return InvalidArgument("incomplete format");
    const Value* arg = nullptr;
    if (fmt[i] == '(') {
      size_t close = fmt.find(')', i);
      if (close == std::string::npos) return InvalidArgument("incomplete format key");
      if (!mapping) return InvalidArgument("format requires a mapping");
      const Value* v = args.dict().FindStr(fmt.substr(i + 1, close - i - 1));
      if (!v) return InvalidArgument("KeyError: " + ReprString(fmt.substr(i + 1, close - i - 1)));
      arg = v;
      used_mapping = true;
      i = close + 1;
    }
    bool left = false, zero = false, plus = false, space = false;
    for (; i < fmt.size() && std::string_view("-+ #0").find(fmt[i]) != std::string_view::npos; ++i) {
      left |= fmt[i] == '-';
      zero |= fmt[i] == '0';
      plus |= fmt[i] == '+';
      space |= fmt[i] == ' ';
    }
    int width = 0, prec = -1;
    for (; i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9'; ++i) width = std::min(width * 10 + (fmt[i] - '0'), 100000);
    if (i < fmt.size() && fmt[i] == '.') {
      prec = 0;
      for (++i; i < fmt.size() && fmt[i] >= '0' && fmt[i] <= '9'; ++i)
        prec = std::min(prec * 10 + (fmt[i] - '0'), 100000);
    }
    while (i < fmt.size() && (fmt[i] == 'h' || fmt[i] == 'l' || fmt[i] == 'L')) ++i;
    if (i >= fmt.size()) return InvalidArgument("incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!arg) {
      if (mapping && pos.size() == 1) {
        arg = &pos[0];
        used_mapping = true;
      } else {
        if (next >= pos.size()) return InvalidArgument("not enough arguments for format string");
        arg = &pos[next++];
      }
    }
    QS_ASSIGN_OR_RETURN(std::string s, FormatOne(conv, *arg, prec));
    if (conv == 's' || conv == 'r' || conv == 'a') {
      if (prec >= 0) s = FromCodePoints(ToCodePoints(s), 0, prec);
    } else if ((plus || space) && !s.empty() && s[0] != '-') {
      s.insert(s.begin(), plus ? '+' : ' ');
    }
    int n = static_cast<int>(CodePointCount(s));
    if (n < width) {
      if (left) {
        s.append(width - n, ' ');
      } else if (zero && conv != 's' && conv != 'r' && conv != 'a' && conv != 'c') {
        size_t at = (!s.empty() && (s[0] == '-' || s[0] == '+' || s[0] == ' ')) ? 1 : 0;
        s.insert(at, width - n, '0');
      } else {
        s.insert(0, width - n, ' ');
      }
    }
    out += s;
  }
  if (!mapping && !used_mapping && next < pos.size())
    return InvalidArgument("not all arguments converted during string formatting");
  return out;
}

}  // namespace qs::jinja
