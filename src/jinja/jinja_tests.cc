// jinja2's builtin tests (tests.py), the environment globals (range, dict, namespace, joiner,
// plus transformers' raise_exception and strftime_now), and Python-style argument binding.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <unordered_map>

#include "jinja/jinja_interp.h"
#include "jinja/jinja_parser.h"
#include "jinja/jinja_unicode.h"

namespace qs::jinja {

Result<std::vector<std::optional<Value>>> BindArgs(const CallArgs& args, const char* fn,
                                                   std::initializer_list<const char*> names, size_t required) {
  std::vector<const char*> n(names);
  std::vector<std::optional<Value>> out(n.size());
  if (args.pos.size() > n.size())
    return InvalidArgument(std::string(fn) + "() takes at most " + std::to_string(n.size()) + " argument(s) (" +
                           std::to_string(args.pos.size()) + " given)");
  for (size_t i = 0; i < args.pos.size(); ++i) out[i] = args.pos[i];
  for (const auto& kv : args.kw) {
    const std::string& k = kv.first;
    const Value& v = kv.second;
    auto it = std::find_if(n.begin(), n.end(), [&](const char* x) { return k == x; });
    if (it == n.end()) return InvalidArgument(std::string(fn) + "() got an unexpected keyword argument '" + k + "'");
    size_t i = static_cast<size_t>(it - n.begin());
    if (out[i]) return InvalidArgument(std::string(fn) + "() got multiple values for argument '" + k + "'");
    out[i] = v;
  }
  for (size_t i = 0; i < required && i < n.size(); ++i)
    if (!out[i]) return InvalidArgument(std::string(fn) + "() missing required argument '" + n[i] + "'");
  return out;
}

namespace {

using TestFn = Result<bool> (*)(Interp&, const Value&, CallArgs&);

Result<Value> Arg1(CallArgs& a, const char* fn) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"other"}, 1));
  return *p[0];
}

Result<bool> Parity(const Value& v, int want) {
  if (v.is_undefined()) return UndefinedError(v);
  if (!v.is_integral()) {
    if (v.is_float()) return std::fmod(std::fabs(v.as_float()), 2.0) == want;
    return InvalidArgument("not all arguments converted during string formatting");
  }
  return (v.as_int() & 1) == want;
}

#define QS_TEST(expr) [](Interp& in, const Value& v, CallArgs& a) -> Result<bool> { return expr; }

template <const char* Op>
Result<bool> Cmp(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(Value o, Arg1(a, Op));
  std::string op = Op;
  if (op == "==") return PyEquals(v, o);
  if (op == "!=") return !PyEquals(v, o);
  if (v.is_undefined()) return UndefinedError(v);
  if (o.is_undefined()) return UndefinedError(o);
  if (op == "<") return PyLess(v, o);
  if (op == ">") return PyLess(o, v);
  QS_ASSIGN_OR_RETURN(bool lt, op == "<=" ? PyLess(v, o) : PyLess(o, v));
  return lt || PyEquals(v, o);
}
constexpr char kEq[] = "==", kNe[] = "!=", kLt[] = "<", kLe[] = "<=", kGt[] = ">", kGe[] = ">=";

Result<bool> Sameas(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(Value o, Arg1(a, "sameas"));
  if (v.kind() != o.kind()) return false;
  if (v.identity() || o.identity()) return v.identity() == o.identity();
  return PyEquals(v, o);  // None, bools and (small) numbers are singletons in CPython
}

Result<bool> CaseTest(const Value& v, bool upper) {
  bool cased = false;
  for (char32_t c : ToCodePoints(Str(v))) {
    if (upper ? (PyIsLower(c) || PyIsTitle(c)) : (PyIsUpper(c) || PyIsTitle(c))) return false;
    cased |= PyIsCased(c);
  }
  return cased;
}

const std::unordered_map<std::string, TestFn>& Tests() {
  static const auto* m = new std::unordered_map<std::string, TestFn>{
      {"odd", QS_TEST(Parity(v, 1))},
      {"even", QS_TEST(Parity(v, 0))},
      {"divisibleby",
       [](Interp& in, const Value& v, CallArgs& a) -> Result<bool> {
         QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "divisibleby", {"num"}, 1));
         QS_ASSIGN_OR_RETURN(Value r, BinaryOp("%", v, *p[0], in.limits()));
         return PyEquals(r, Value(0));
       }},
      {"defined", QS_TEST(!v.is_undefined())},
      {"undefined", QS_TEST(v.is_undefined())},
      {"filter", QS_TEST(v.is_string() && IsKnownFilter(v.str()))},
      {"test", QS_TEST(v.is_string() && IsKnownTest(v.str()))},
      {"none", QS_TEST(v.is_none())},
      {"boolean", QS_TEST(v.is_bool())},
      {"false", QS_TEST(v.is_bool() && !v.as_bool())},
      {"true", QS_TEST(v.is_bool() && v.as_bool())},
      {"integer", QS_TEST(v.is_int())},
      {"float", QS_TEST(v.is_float())},
      {"number", QS_TEST(v.is_number())},
      {"string", QS_TEST(v.is_string())},
      {"mapping", QS_TEST(v.is_dict())},
      {"lower", QS_TEST(CaseTest(v, false))},
      {"upper", QS_TEST(CaseTest(v, true))},
      {"sequence", QS_TEST(v.is_string() || v.is_list() || v.is_dict() || v.is_undefined())},
      {"iterable",
       QS_TEST(v.is_string() || v.is_list() || v.is_dict() || v.is_undefined() || v.is_iterator() || v.is_loop())},
      {"callable", QS_TEST(v.is_callable() || v.is_loop())},
      {"sameas", Sameas},
      {"escaped", QS_TEST(false)},
      {"in",
       [](Interp&, const Value& v, CallArgs& a) -> Result<bool> {
         QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "in", {"seq"}, 1));
         return Contains(*p[0], v);
       }},
      {"==", Cmp<kEq>},
      {"eq", Cmp<kEq>},
      {"equalto", Cmp<kEq>},
      {"!=", Cmp<kNe>},
      {"ne", Cmp<kNe>},
      {">", Cmp<kGt>},
      {"gt", Cmp<kGt>},
      {"greaterthan", Cmp<kGt>},
      {">=", Cmp<kGe>},
      {"ge", Cmp<kGe>},
      {"<", Cmp<kLt>},
      {"lt", Cmp<kLt>},
      {"lessthan", Cmp<kLt>},
      {"<=", Cmp<kLe>},
      {"le", Cmp<kLe>},
  };
  return *m;
}

// ---- globals ----

using GlobalFn = Result<Value> (*)(Interp&, CallArgs&);

class Builtin : public Callable {
 public:
  Builtin(std::string name, GlobalFn fn) : name_(std::move(name)), fn_(fn) {}
  std::string Repr() const override { return "<built-in function " + name_ + ">"; }
  Result<Value> Call(Interp& in, CallArgs& args) override { return fn_(in, args); }

 private:
  std::string name_;
  GlobalFn fn_;
};

// jinja2's sandbox caps range() at MAX_RANGE items.
constexpr int64_t kMaxRange = 100000;

Result<Value> GRange(Interp&, CallArgs& a) {
  if (!a.kw.empty()) return InvalidArgument("range() takes no keyword arguments");
  if (a.pos.empty() || a.pos.size() > 3)
    return InvalidArgument("range expected 1 to 3 arguments, got " + std::to_string(a.pos.size()));
  for (const auto& v : a.pos)
    if (!v.is_integral()) return InvalidArgument("'" + TypeName(v) + "' object cannot be interpreted as an integer");
  int64_t start = 0, stop, step = 1;
  if (a.pos.size() == 1) {
    stop = a.pos[0].as_int();
  } else {
    start = a.pos[0].as_int();
    stop = a.pos[1].as_int();
    if (a.pos.size() == 3) step = a.pos[2].as_int();
  }
  if (step == 0) return InvalidArgument("range() arg 3 must not be zero");
  __int128 n = step > 0 ? (static_cast<__int128>(stop) - start + step - 1) / step
                        : (static_cast<__int128>(start) - stop - step - 1) / (-step);
  if (n < 0) n = 0;
  if (n > kMaxRange) return OutOfRange("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  std::vector<Value> items;
  items.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) items.emplace_back(start + i * step);
  return Value::MakeList(std::move(items));
}

// dict(mapping_or_pairs, **kw) / namespace(...): the pairs in insertion order.
Result<std::vector<std::pair<Value, Value>>> DictArgs(CallArgs& a, const char* fn) {
  std::vector<std::pair<Value, Value>> out;
  if (a.pos.size() > 1) return InvalidArgument(std::string(fn) + " expected at most 1 argument");
  if (!a.pos.empty()) {
    const Value& src = a.pos[0];
    if (src.is_dict()) {
      out = src.dict().entries;
    } else if (src.is_namespace()) {
      for (auto& [k, v] : src.ns()->attrs) out.emplace_back(Value(k), v);
    } else {
      QS_ASSIGN_OR_RETURN(std::vector<Value> pairs, Iterate(src));
      for (auto& p : pairs) {
        QS_ASSIGN_OR_RETURN(std::vector<Value> kv, Iterate(p));
        if (kv.size() != 2) return InvalidArgument("dictionary update sequence element has wrong length");
        out.emplace_back(kv[0], kv[1]);
      }
    }
  }
  for (auto& [k, v] : a.kw) out.emplace_back(Value(k), v);
  return out;
}

Result<Value> GDict(Interp&, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto pairs, DictArgs(a, "dict"));
  DictData d;
  for (auto& [k, v] : pairs) {
    if (!IsHashable(k)) return InvalidArgument("unhashable type: '" + TypeName(k) + "'");
    d.Set(k, v);
  }
  return Value::MakeDict(std::move(d));
}

Result<Value> GNamespace(Interp& in, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto pairs, DictArgs(a, "namespace"));
  NamespaceData* ns = in.NewNamespace();
  for (auto& [k, v] : pairs) {
    if (!k.is_string()) return InvalidArgument("namespace keys must be strings");
    ns->Set(k.str(), v);
  }
  return Value(ns);
}

class Joiner : public Callable {
 public:
  explicit Joiner(std::string sep) : sep_(std::move(sep)) {}
  std::string Repr() const override { return "<jinja2.utils.Joiner object>"; }
  Result<Value> Call(Interp&, CallArgs&) override {
    if (!used_) {
      used_ = true;
      return Value("");
    }
    return Value(sep_);
  }

 private:
  std::string sep_;
  bool used_ = false;
};

Result<Value> GJoiner(Interp&, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "joiner", {"sep"}, 0));
  return Value(std::shared_ptr<Callable>(std::make_shared<Joiner>(p[0] ? Str(*p[0]) : ", ")));
}

Result<Value> GRaise(Interp&, CallArgs& a) {
  std::string msg = a.pos.empty() ? "" : Str(a.pos[0]);
  return InvalidArgument("raise_exception: " + msg);
}

Result<Value> GStrftimeNow(Interp&, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "strftime_now", {"format"}, 1));
  std::string fmt = Str(*p[0]);
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  std::string buf(256 + fmt.size() * 8, '\0');
  size_t n = fmt.empty() ? 0 : std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
  buf.resize(n);
  return Value(buf);
}

Result<Value> GUnsupported(Interp&, CallArgs&) { return Unsupported("cycler() and lipsum() are not supported"); }

}  // namespace

bool IsKnownTest(const std::string& name) { return Tests().count(name) > 0; }

Result<bool> CallTestFn(Interp& in, const std::string& name, const Value& subject, CallArgs& args) {
  auto it = Tests().find(name);
  if (it == Tests().end()) return InvalidArgument("No test named '" + name + "' found.");
  QS_RETURN_IF_ERROR(in.Step());
  return it->second(in, subject, args);
}

bool LookupGlobal(const std::string& name, Value* out) {
  static const auto* globals = [] {
    auto* m = new std::unordered_map<std::string, Value>;
    auto add = [&](const char* n, GlobalFn fn) {
      (*m)[n] = Value(std::shared_ptr<Callable>(std::make_shared<Builtin>(n, fn)));
    };
    add("range", GRange);
    add("dict", GDict);
    add("namespace", GNamespace);
    add("joiner", GJoiner);
    add("cycler", GUnsupported);
    add("lipsum", GUnsupported);
    add("raise_exception", GRaise);
    add("strftime_now", GStrftimeNow);
    return m;
  }();
  auto it = globals->find(name);
  if (it == globals->end()) return false;
  *out = it->second;
  return true;
}

}  // namespace qs::jinja
