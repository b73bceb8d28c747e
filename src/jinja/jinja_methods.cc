// Python methods templates call on values: str (split, strip, startswith, format, ...), dict
// (items, get, keys, values), list (index, count) and the attributes of the `loop` object.
// Mutating methods (list.append, dict.update, ...) exist but are refused, as in transformers'
// ImmutableSandboxedEnvironment.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "jinja/jinja_interp.h"
#include "jinja/jinja_unicode.h"

namespace qs::jinja {

using MethodFn = Result<Value> (*)(Interp&, const Value&, CallArgs&);
Result<Value> StrFormatM(Interp& in, const Value& self, CallArgs& a);  // jinja_format.cc

namespace {

class BoundMethod : public Callable {
 public:
  BoundMethod(Value self, std::string name, MethodFn fn) : self_(std::move(self)), name_(std::move(name)), fn_(fn) {}
  std::string Repr() const override { return "<built-in method " + name_ + " of " + TypeName(self_) + " object>"; }
  Result<Value> Call(Interp& in, CallArgs& args) override { return fn_(in, self_, args); }

 private:
  Value self_;
  std::string name_;
  MethodFn fn_;
};

Result<std::string> StrArg(const std::optional<Value>& v, const char* fn, const char* what = "str") {
  if (!v || !v->is_string())
    return InvalidArgument(std::string(fn) + "() argument must be " + what + ", not " + (v ? TypeName(*v) : "missing"));
  return v->str();
}

int64_t IntOr(const std::optional<Value>& v, int64_t dflt) { return (v && v->is_integral()) ? v->as_int() : dflt; }

// [start, end) code point range of Python's s[start:end] for the optional start/end arguments.
void SubRange(int64_t len, const std::optional<Value>& sv, const std::optional<Value>& ev, int64_t* b, int64_t* e) {
  auto adj = [&](const std::optional<Value>& v, int64_t d) {
    if (!v || v->is_none() || !v->is_integral()) return d;
    int64_t x = v->as_int();
    if (x < 0) x = std::max<int64_t>(0, x + len);
    return std::min(x, len);
  };
  *b = adj(sv, 0);
  *e = adj(ev, len);
}

// ---- str ----

Result<Value> StrFind(const Value& self, CallArgs& a, const char* fn, bool reverse, bool raise) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"sub", "start", "end"}, 1));
  QS_ASSIGN_OR_RETURN(std::string sub, StrArg(p[0], fn));
  auto cps = ToCodePoints(self.str());
  int64_t b, e;
  SubRange(static_cast<int64_t>(cps.size()), p[1], p[2], &b, &e);
  int64_t found = -1;
  if (b <= e) {
    std::string hay = FromCodePoints(cps, b, e);
    size_t at = reverse ? hay.rfind(sub) : hay.find(sub);
    if (at != std::string::npos) found = b + static_cast<int64_t>(CodePointIndex(hay, at));
  }
  if (found < 0 && raise) return InvalidArgument("substring not found");
  return Value(found);
}

Result<Value> StrAffix(const Value& self, CallArgs& a, const char* fn, bool ends) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"prefix", "start", "end"}, 1));
  std::vector<std::string> options;
  if (p[0]->is_string()) {
    options.push_back(p[0]->str());
  } else if (p[0]->is_list() && p[0]->list().is_tuple) {
    for (const auto& x : p[0]->list().items) {
      if (!x.is_string()) return InvalidArgument(std::string("tuple for ") + fn + " must only contain str");
      options.push_back(x.str());
    }
  } else {
    return InvalidArgument(std::string(fn) + " first arg must be str or a tuple of str, not " + TypeName(*p[0]));
  }
  std::string s = self.str();
  if (p[1] || p[2]) {
    auto cps = ToCodePoints(s);
    int64_t b, e;
    SubRange(static_cast<int64_t>(cps.size()), p[1], p[2], &b, &e);
    if (b > e) return Value(false);
    s = FromCodePoints(cps, b, e);
  }
  for (const auto& o : options) {
    if (o.size() > s.size()) continue;
    if (ends ? s.compare(s.size() - o.size(), o.size(), o) == 0 : s.compare(0, o.size(), o) == 0) return Value(true);
  }
  return Value(false);
}

Value StrList(std::vector<std::string> parts) {
  std::vector<Value> items;
  items.reserve(parts.size());
  for (auto& s : parts) items.emplace_back(std::move(s));
  return Value::MakeList(std::move(items));
}

Result<Value> StrSplitM(const Value& self, CallArgs& a, bool right) {
  const char* fn = right ? "rsplit" : "split";
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"sep", "maxsplit"}, 0));
  int64_t maxsplit = IntOr(p[1], -1);
  if (!p[0] || p[0]->is_none())
    return StrList(right ? StrRSplitWhitespace(self.str(), maxsplit) : StrSplitWhitespace(self.str(), maxsplit));
  QS_ASSIGN_OR_RETURN(std::string sep, StrArg(p[0], fn));
  if (sep.empty()) return InvalidArgument("empty separator");
  return StrList(right ? StrRSplit(self.str(), sep, maxsplit) : StrSplit(self.str(), sep, maxsplit));
}

Result<Value> StrStripM(const Value& self, CallArgs& a, const char* fn, bool l, bool r) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"chars"}, 0));
  if (!p[0] || p[0]->is_none()) return Value(StrStrip(self.str(), nullptr, l, r));
  QS_ASSIGN_OR_RETURN(std::string chars, StrArg(p[0], fn));
  return Value(StrStrip(self.str(), &chars, l, r));
}

Result<Value> StrJust(const Value& self, CallArgs& a, const char* fn, int mode) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"width", "fillchar"}, 1));
  if (!p[0]->is_integral()) return InvalidArgument("integer argument expected");
  std::string fill = " ";
  if (p[1]) {
    QS_ASSIGN_OR_RETURN(fill, StrArg(p[1], fn));
    if (CodePointCount(fill) != 1) return InvalidArgument("The fill character must be exactly one character long");
  }
  const std::string& s = self.str();
  int64_t n = static_cast<int64_t>(CodePointCount(s));
  int64_t w = std::min<int64_t>(p[0]->as_int(), 1 << 20);
  if (w <= n) return self;
  int64_t pad = w - n, left = 0;
  if (mode == 0) left = pad;                      // rjust
  if (mode == 2) left = pad / 2 + (pad & w & 1);  // center, CPython's rounding
  std::string out;
  for (int64_t i = 0; i < left; ++i) out += fill;
  out += s;
  for (int64_t i = left; i < pad; ++i) out += fill;
  return Value(std::move(out));
}

template <bool (*Pred)(char32_t)>
Result<Value> StrIs(Interp&, const Value& self, CallArgs&) {
  auto cps = ToCodePoints(self.str());
  if (cps.empty()) return Value(false);
  for (char32_t c : cps)
    if (!Pred(c)) return Value(false);
  return Value(true);
}

bool IsNumericCp(char32_t c) { return PyIsDigit(c) || (PyIsAlnum(c) && !PyIsAlpha(c)); }

Result<Value> StrCaseIs(const Value& self, bool upper) {
  bool cased = false;
  for (char32_t c : ToCodePoints(self.str())) {
    if (upper ? (PyIsLower(c) || PyIsTitle(c)) : (PyIsUpper(c) || PyIsTitle(c))) return Value(false);
    cased |= PyIsCased(c);
  }
  return Value(cased);
}

Result<Value> StrPartition(const Value& self, CallArgs& a, bool right) {
  const char* fn = right ? "rpartition" : "partition";
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"sep"}, 1));
  QS_ASSIGN_OR_RETURN(std::string sep, StrArg(p[0], fn));
  if (sep.empty()) return InvalidArgument("empty separator");
  const std::string& s = self.str();
  size_t at = right ? s.rfind(sep) : s.find(sep);
  if (at == std::string::npos) {
    return right ? Value::MakeList({Value(""), Value(""), self}, true)
                 : Value::MakeList({self, Value(""), Value("")}, true);
  }
  return Value::MakeList({Value(s.substr(0, at)), Value(sep), Value(s.substr(at + sep.size()))}, true);
}

Result<Value> StrJoin(Interp&, const Value& self, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "join", {"iterable"}, 1));
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(*p[0]));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string())
      return InvalidArgument("sequence item " + std::to_string(i) + ": expected str instance, " + TypeName(items[i]) +
                             " found");
    if (i) out += self.str();
    out += items[i].str();
  }
  return Value(std::move(out));
}

Result<Value> StrReplaceM(Interp& in, const Value& self, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "replace", {"old", "new", "count"}, 2));
  QS_ASSIGN_OR_RETURN(std::string o, StrArg(p[0], "replace"));
  QS_ASSIGN_OR_RETURN(std::string n, StrArg(p[1], "replace"));
  std::string r = StrReplace(self.str(), o, n, IntOr(p[2], -1));
  QS_RETURN_IF_ERROR(in.CheckSize(r.size()));
  return Value(std::move(r));
}

Result<Value> StrCount(Interp&, const Value& self, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "count", {"sub", "start", "end"}, 1));
  QS_ASSIGN_OR_RETURN(std::string sub, StrArg(p[0], "count"));
  auto cps = ToCodePoints(self.str());
  int64_t b, e;
  SubRange(static_cast<int64_t>(cps.size()), p[1], p[2], &b, &e);
  if (b > e) return Value(int64_t{0});
  std::string hay = FromCodePoints(cps, b, e);
  if (sub.empty()) return Value(e - b + 1);
  int64_t n = 0;
  for (size_t at = hay.find(sub); at != std::string::npos; at = hay.find(sub, at + sub.size())) ++n;
  return Value(n);
}

Result<Value> StrAffixRemove(const Value& self, CallArgs& a, bool suffix) {
  const char* fn = suffix ? "removesuffix" : "removeprefix";
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, fn, {"affix"}, 1));
  QS_ASSIGN_OR_RETURN(std::string x, StrArg(p[0], fn));
  const std::string& s = self.str();
  if (x.empty() || x.size() > s.size()) return self;
  if (suffix) return s.compare(s.size() - x.size(), x.size(), x) == 0 ? Value(s.substr(0, s.size() - x.size())) : self;
  return s.compare(0, x.size(), x) == 0 ? Value(s.substr(x.size())) : self;
}

Result<Value> StrZfill(Interp&, const Value& self, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "zfill", {"width"}, 1));
  std::string s = self.str();
  int64_t n = static_cast<int64_t>(CodePointCount(s));
  int64_t w = std::min<int64_t>(IntOr(p[0], 0), 1 << 20);
  if (w <= n) return self;
  size_t at = (!s.empty() && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
  s.insert(at, static_cast<size_t>(w - n), '0');
  return Value(std::move(s));
}

Result<Value> StrSplitLinesM(Interp&, const Value& self, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "splitlines", {"keepends"}, 0));
  return StrList(StrSplitLines(self.str(), p[0] && Truthy(*p[0])));
}

#define QS_STR0(expr)                                                                  \
  [](Interp&, const Value& self, CallArgs& a) -> Result<Value> {                       \
    if (!a.pos.empty() || !a.kw.empty()) return InvalidArgument("takes no arguments"); \
    return Value(expr);                                                                \
  }

const std::unordered_map<std::string, MethodFn>& StrMethods() {
  static const auto* m = new std::unordered_map<std::string, MethodFn>{
      {"upper", QS_STR0(StrUpper(self.str()))},
      {"lower", QS_STR0(StrLower(self.str()))},
      {"casefold", QS_STR0(StrLower(self.str()))},
      {"title", QS_STR0(StrTitle(self.str()))},
      {"capitalize", QS_STR0(StrCapitalize(self.str()))},
      {"swapcase", QS_STR0(StrSwapCase(self.str()))},
      {"strip", [](Interp&, const Value& s, CallArgs& a) { return StrStripM(s, a, "strip", true, true); }},
      {"lstrip", [](Interp&, const Value& s, CallArgs& a) { return StrStripM(s, a, "lstrip", true, false); }},
      {"rstrip", [](Interp&, const Value& s, CallArgs& a) { return StrStripM(s, a, "rstrip", false, true); }},
      {"split", [](Interp&, const Value& s, CallArgs& a) { return StrSplitM(s, a, false); }},
      {"rsplit", [](Interp&, const Value& s, CallArgs& a) { return StrSplitM(s, a, true); }},
      {"splitlines", StrSplitLinesM},
      {"startswith", [](Interp&, const Value& s, CallArgs& a) { return StrAffix(s, a, "startswith", false); }},
      {"endswith", [](Interp&, const Value& s, CallArgs& a) { return StrAffix(s, a, "endswith", true); }},
      {"find", [](Interp&, const Value& s, CallArgs& a) { return StrFind(s, a, "find", false, false); }},
      {"rfind", [](Interp&, const Value& s, CallArgs& a) { return StrFind(s, a, "rfind", true, false); }},
      {"index", [](Interp&, const Value& s, CallArgs& a) { return StrFind(s, a, "index", false, true); }},
      {"rindex", [](Interp&, const Value& s, CallArgs& a) { return StrFind(s, a, "rindex", true, true); }},
      {"count", StrCount},
      {"replace", StrReplaceM},
      {"join", StrJoin},
      {"partition", [](Interp&, const Value& s, CallArgs& a) { return StrPartition(s, a, false); }},
      {"rpartition", [](Interp&, const Value& s, CallArgs& a) { return StrPartition(s, a, true); }},
      {"removeprefix", [](Interp&, const Value& s, CallArgs& a) { return StrAffixRemove(s, a, false); }},
      {"removesuffix", [](Interp&, const Value& s, CallArgs& a) { return StrAffixRemove(s, a, true); }},
      {"ljust", [](Interp&, const Value& s, CallArgs& a) { return StrJust(s, a, "ljust", 1); }},
      {"rjust", [](Interp&, const Value& s, CallArgs& a) { return StrJust(s, a, "rjust", 0); }},
      {"center", [](Interp&, const Value& s, CallArgs& a) { return StrJust(s, a, "center", 2); }},
      {"zfill", StrZfill},
      {"format", StrFormatM},
      {"isalpha", StrIs<PyIsAlpha>},
      {"isalnum", StrIs<PyIsAlnum>},
      {"isdigit", StrIs<PyIsDigit>},
      {"isdecimal", StrIs<PyIsDigit>},
      {"isnumeric", StrIs<IsNumericCp>},
      {"isspace", StrIs<PyIsSpace>},
      {"isascii", QS_STR0(std::all_of(self.str().begin(), self.str().end(), [](char c) { return (c & 0x80) == 0; }))},
      {"islower", [](Interp&, const Value& s, CallArgs&) { return StrCaseIs(s, false); }},
      {"isupper", [](Interp&, const Value& s, CallArgs&) { return StrCaseIs(s, true); }},
  };
  return *m;
}

// ---- dict / list ----

Value View(std::vector<Value> items, ListData::View kind) {
  auto l = std::make_shared<ListData>();
  l->items = std::move(items);
  l->view = kind;
  for (const auto& x : l->items) l->depth = std::max(l->depth, NestDepth(x) + 1);
  return Value(std::shared_ptr<const ListData>(std::move(l)));
}

Result<Value> DictItems(Interp&, const Value& self, CallArgs& a) {
  if (!a.pos.empty() || !a.kw.empty()) return InvalidArgument("items() takes no arguments");
  std::vector<Value> items;
  for (const auto& [k, v] : self.dict().entries) items.push_back(Value::MakeList({k, v}, true));
  return View(std::move(items), ListData::View::kItems);
}

Result<Value> DictKeys(Interp&, const Value& self, CallArgs& a) {
  if (!a.pos.empty() || !a.kw.empty()) return InvalidArgument("keys() takes no arguments");
  return View(Iterate(self).value(), ListData::View::kKeys);
}

Result<Value> DictValues(Interp&, const Value& self, CallArgs& a) {
  if (!a.pos.empty() || !a.kw.empty()) return InvalidArgument("values() takes no arguments");
  std::vector<Value> items;
  for (const auto& e : self.dict().entries) items.push_back(e.second);
  return View(std::move(items), ListData::View::kValues);
}

Result<Value> DictGet(Interp&, const Value& self, CallArgs& a) {
  if (!a.kw.empty()) return InvalidArgument("get() takes no keyword arguments");
  if (a.pos.empty() || a.pos.size() > 2)
    return InvalidArgument("get expected 1 or 2 arguments, got " + std::to_string(a.pos.size()));
  if (!IsHashable(a.pos[0])) return InvalidArgument("unhashable type: '" + TypeName(a.pos[0]) + "'");
  if (const Value* v = self.dict().Find(a.pos[0])) return *v;
  return a.pos.size() > 1 ? a.pos[1] : Value::None();
}

Result<Value> Copy(Interp&, const Value& self, CallArgs&) { return self; }

Result<Value> ListCount(Interp&, const Value& self, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "count", {"value"}, 1));
  int64_t n = 0;
  for (const auto& x : self.list().items) n += PyEquals(x, *p[0]);
  return Value(n);
}

Result<Value> ListIndex(Interp&, const Value& self, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "index", {"value", "start", "stop"}, 1));
  const auto& items = self.list().items;
  int64_t b, e;
  SubRange(static_cast<int64_t>(items.size()), p[1], p[2], &b, &e);
  for (int64_t i = b; i < e; ++i)
    if (PyEquals(items[i], *p[0])) return Value(i);
  return InvalidArgument(Repr(*p[0]) + " is not in list");
}

// ---- loop ----

Result<Value> LoopCycle(Interp&, const Value& self, CallArgs& a) {
  if (a.pos.empty()) return InvalidArgument("no items for cycling given");
  return a.pos[self.loop()->index0 % a.pos.size()];
}

Result<Value> LoopChanged(Interp&, const Value& self, CallArgs& a) {
  LoopData* l = self.loop();
  bool same = l->has_last_changed && l->last_changed.size() == a.pos.size();
  for (size_t i = 0; same && i < a.pos.size(); ++i) same = PyEquals(l->last_changed[i], a.pos[i]);
  if (same) return Value(false);
  l->has_last_changed = true;
  l->last_changed = a.pos;
  return Value(true);
}

}  // namespace

std::shared_ptr<Callable> FindMethod(const Value& obj, const std::string& name, bool* unsafe) {
  *unsafe = false;
  MethodFn fn = nullptr;
  if (obj.is_string()) {
    auto it = StrMethods().find(name);
    if (it != StrMethods().end()) fn = it->second;
  } else if (obj.is_dict()) {
    if (name == "items") fn = DictItems;
    if (name == "keys") fn = DictKeys;
    if (name == "values") fn = DictValues;
    if (name == "get") fn = DictGet;
    if (name == "copy") fn = Copy;
    if (name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear")
      *unsafe = true;
  } else if (obj.is_list() && obj.list().view == ListData::View::kNone) {
    if (name == "count") fn = ListCount;
    if (name == "index") fn = ListIndex;
    if (name == "copy" && !obj.list().is_tuple) fn = Copy;
    if (!obj.list().is_tuple && (name == "append" || name == "extend" || name == "insert" || name == "pop" ||
                                 name == "remove" || name == "clear" || name == "sort" || name == "reverse"))
      *unsafe = true;
  } else if (obj.is_loop()) {
    if (name == "cycle") fn = LoopCycle;
    if (name == "changed") fn = LoopChanged;
  }
  if (!fn) return nullptr;
  return std::make_shared<BoundMethod>(obj, name, fn);
}

Result<Value> LoopAttr(const Value& loop, const std::string& name) {
  const LoopData& l = *loop.loop();
  const int64_t n = static_cast<int64_t>(l.items->size());
  const int64_t i = static_cast<int64_t>(l.index0);
  if (name == "index0") return Value(i);
  if (name == "index") return Value(i + 1);
  if (name == "revindex0") return Value(n - i - 1);
  if (name == "revindex") return Value(n - i);
  if (name == "first") return Value(i == 0);
  if (name == "last") return Value(i == n - 1);
  if (name == "length") return Value(n);
  if (name == "depth0") return Value(l.depth0);
  if (name == "depth") return Value(l.depth0 + 1);
  if (name == "previtem") return i > 0 ? (*l.items)[i - 1] : Value::Undefined("there is no previous item");
  if (name == "nextitem") return i + 1 < n ? (*l.items)[i + 1] : Value::Undefined("there is no next item");
  if (name == "cycle" || name == "changed") {
    bool unsafe;
    return Value(FindMethod(loop, name, &unsafe));
  }
  return Value::Undefined("'LoopContext object' has no attribute '" + name + "'");
}

}  // namespace qs::jinja
