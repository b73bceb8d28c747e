// jinja2's builtin filters (filters.py), plus transformers' tojson override and llama.cpp's
// from_json. Filters that return generators in jinja2 (map, select, reject, items, unique,
// reverse of a list) return generators here too, so `| tojson` and `| length` on them fail exactly
// where transformers fails.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "jinja/jinja_interp.h"
#include "jinja/jinja_parser.h"
#include "jinja/jinja_unicode.h"

namespace qs::jinja {
namespace {

using FilterFn = Result<Value> (*)(Interp&, const Value&, CallArgs&);

Value Gen(std::vector<Value> items) {
  auto it = std::make_shared<IterData>();
  it->items = std::move(items);
  return Value(it);
}

Value StrV(std::string s) { return Value(std::move(s)); }

bool Flag(const std::optional<Value>& v, bool dflt = false) { return v ? Truthy(*v) : dflt; }

// make_attrgetter: "a.b.0" walks getitem with integer parts; `default` replaces Undefined.
struct AttrGetter {
  std::vector<Value> parts;
  std::optional<Value> dflt;
  bool lower = false;  // postprocess=ignore_case

  static AttrGetter Make(const std::optional<Value>& attribute) {
    AttrGetter g;
    if (!attribute || attribute->is_none()) return g;
    if (!attribute->is_string()) {
      g.parts.push_back(*attribute);
      return g;
    }
    for (auto& p : StrSplit(attribute->str(), ".", -1)) {
      bool digits = !p.empty() && std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; });
      g.parts.push_back(digits && p.size() < 18 ? Value(static_cast<int64_t>(std::stoll(p))) : Value(p));
    }
    return g;
  }
  Result<Value> operator()(Interp& in, Value item) const {
    for (const auto& p : parts) {
      QS_ASSIGN_OR_RETURN(item, in.GetItem(item, p));
      if (dflt && !dflt->is_none() && item.is_undefined()) item = *dflt;
    }
    if (lower && item.is_string()) item = Value(StrLower(item.str()));
    return item;
  }
};

Result<Value> FAbs(Interp&, const Value& v, CallArgs& a) {
  if (v.is_integral()) {
    if (v.as_int() == INT64_MIN) return OutOfRange("integer overflow");
    return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  }
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_undefined()) return UndefinedError(v);
  return InvalidArgument("bad operand type for abs(): '" + TypeName(v) + "'");
}

Result<Value> FAttr(Interp& in, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "attr", {"name"}, 1));
  if (!p[0]->is_string()) return Value::Undefined("attribute name must be a string");
  if (v.is_dict() || v.is_list() || v.is_string()) {
    bool unsafe;
    auto m = FindMethod(v, p[0]->str(), &unsafe);
    if (m && !unsafe) return Value(m);
    return Value::Undefined("'" + TypeName(v) + " object' has no attribute '" + p[0]->str() + "'");
  }
  return in.GetAttr(v, p[0]->str());
}

Result<Value> FBatch(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "batch", {"linecount", "fill_with"}, 1));
  if (!p[0]->is_integral() || p[0]->as_int() <= 0)
    return InvalidArgument("batch: linecount must be a positive integer");
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  size_t n = static_cast<size_t>(p[0]->as_int());
  std::vector<Value> out, cur;
  for (auto& x : items) {
    if (cur.size() == n) out.push_back(Value::MakeList(std::move(cur))), cur.clear();
    cur.push_back(std::move(x));
  }
  if (!cur.empty()) {
    if (p[1] && !p[1]->is_none())
      while (cur.size() < n) cur.push_back(*p[1]);
    out.push_back(Value::MakeList(std::move(cur)));
  }
  return Gen(std::move(out));
}

Result<Value> FCapitalize(Interp&, const Value& v, CallArgs&) { return StrV(StrCapitalize(Str(v))); }
Result<Value> FLower(Interp&, const Value& v, CallArgs&) { return StrV(StrLower(Str(v))); }
Result<Value> FUpper(Interp&, const Value& v, CallArgs&) { return StrV(StrUpper(Str(v))); }
Result<Value> FString(Interp&, const Value& v, CallArgs&) { return StrV(Str(v)); }
Result<Value> FSafe(Interp&, const Value& v, CallArgs&) { return v; }

Result<Value> FCenter(Interp& in, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "center", {"width"}, 0));
  CallArgs ca;
  ca.pos.push_back(p[0] ? *p[0] : Value(80));
  bool unsafe;
  return FindMethod(Value(Str(v)), "center", &unsafe)->Call(in, ca);
}

Result<Value> FLength(Interp&, const Value& v, CallArgs&) {
  QS_ASSIGN_OR_RETURN(int64_t n, Length(v));
  return Value(n);
}

Result<Value> FDefault(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "default", {"default_value", "boolean"}, 0));
  if (v.is_undefined() || (Flag(p[1]) && !Truthy(v))) return p[0] ? *p[0] : Value("");
  return v;
}

// Stable sort of `items` by `keys` (Python's sorted(..., key=, reverse=)).
Status SortBy(std::vector<Value>* items, std::vector<Value> keys, bool reverse) {
  std::vector<size_t> idx(items->size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  Status err;
  std::stable_sort(idx.begin(), idx.end(), [&](size_t x, size_t y) {
    if (!err.ok()) return false;
    auto r = reverse ? PyLess(keys[y], keys[x]) : PyLess(keys[x], keys[y]);
    if (!r.ok()) err = r.status();
    return r.ok() && r.value();
  });
  QS_RETURN_IF_ERROR(err);
  std::vector<Value> out;
  for (size_t i : idx) out.push_back((*items)[i]);
  *items = std::move(out);
  return Status::Ok();
}

Result<Value> FDictsort(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "dictsort", {"case_sensitive", "by", "reverse"}, 0));
  if (!v.is_dict()) return InvalidArgument("dictsort: expected a mapping, got " + TypeName(v));
  int pos = 0;
  if (p[1]) {
    if (p[1]->is_string() && p[1]->str() == "value") {
      pos = 1;
    } else if (!p[1]->is_string() || p[1]->str() != "key") {
      return InvalidArgument("You can only sort by either \"key\" or \"value\"");
    }
  }
  std::vector<Value> items, keys;
  for (const auto& [k, val] : v.dict().entries) {
    items.push_back(Value::MakeList({k, val}, true));
    const Value& key = pos ? val : k;
    keys.push_back(!Flag(p[0]) && key.is_string() ? Value(StrLower(key.str())) : key);
  }
  QS_RETURN_IF_ERROR(SortBy(&items, std::move(keys), Flag(p[2])));
  return Value::MakeList(std::move(items));
}

Result<Value> FEscape(Interp&, const Value& v, CallArgs&) {
  std::string out;
  for (char c : Str(v)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return StrV(std::move(out));
}

Result<Value> FFirst(Interp&, const Value& v, CallArgs&) {
  if (v.is_iterator()) {
    IterData* it = v.iter();
    if (it->pos < it->items.size()) return it->items[it->pos++];
  } else {
    QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
    if (!items.empty()) return items.front();
  }
  return Value::Undefined("No first item, sequence was empty.");
}

Result<Value> FLast(Interp&, const Value& v, CallArgs&) {
  if (v.is_iterator()) return InvalidArgument("'generator' object is not reversible");
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  if (!items.empty()) return items.back();
  return Value::Undefined("No last item, sequence was empty.");
}

// Python float(str): surrounding whitespace, underscores between digits, inf/nan.
bool ParsePyFloat(const std::string& s0, double* out) {
  std::string s = StrStrip(s0, nullptr, true, true);
  std::string t;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !isdigit(static_cast<unsigned char>(s[i + 1])))
        return false;
      continue;
    }
    t += s[i];
  }
  if (t.empty()) return false;
  std::string low = StrLower(t);
  size_t sg = (low[0] == '+' || low[0] == '-') ? 1 : 0;
  std::string body = low.substr(sg);
  if (body == "inf" || body == "infinity" || body == "nan") {
    double x = body == "nan" ? NAN : INFINITY;
    *out = low[0] == '-' ? -x : x;
    return true;
  }
  if (body.find_first_not_of("0123456789.e+-") != std::string::npos) return false;
  char* end = nullptr;
  *out = std::strtod(t.c_str(), &end);
  return end == t.c_str() + t.size();
}

Result<Value> FFloat(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "float", {"default"}, 0));
  if (v.is_undefined()) return UndefinedError(v);
  if (v.is_number()) return Value(v.as_float());
  double d;
  if (v.is_string() && ParsePyFloat(v.str(), &d)) return Value(d);
  return p[0] ? *p[0] : Value(0.0);
}

Result<Value> FInt(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "int", {"default", "base"}, 0));
  Value dflt = p[0] ? *p[0] : Value(0);
  if (v.is_undefined()) return UndefinedError(v);
  if (v.is_integral()) return Value(v.as_int());
  if (v.is_float()) {
    double d = std::trunc(v.as_float());
    if (!std::isfinite(d) || std::fabs(d) > 9.2e18) return dflt;
    return Value(static_cast<int64_t>(d));
  }
  if (!v.is_string()) return dflt;
  int base = p[1] && p[1]->is_integral() ? static_cast<int>(p[1]->as_int()) : 10;
  std::string s = StrStrip(v.str(), nullptr, true, true);
  bool neg = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.erase(0, 1);
  std::string low = StrLower(s);
  if ((base == 16 || base == 0) && low.rfind("0x", 0) == 0) s = s.substr(2), base = 16;
  if ((base == 8 || base == 0) && low.rfind("0o", 0) == 0) s = s.substr(2), base = 8;
  if ((base == 2 || base == 0) && low.rfind("0b", 0) == 0) s = s.substr(2), base = 2;
  if (base == 0) base = 10;
  s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
  int64_t x = 0;
  if (base >= 2 && base <= 36 && !s.empty()) {
    char* end = nullptr;
    errno = 0;
    long long r = std::strtoll(s.c_str(), &end, base);
    if (end == s.c_str() + s.size() && errno == 0 && isalnum(static_cast<unsigned char>(s[0]))) {
      x = r;
      return Value(neg ? -x : x);
    }
  }
  double d;
  if (ParsePyFloat(v.str(), &d) && std::isfinite(d) && std::fabs(d) < 9.2e18)
    return Value(static_cast<int64_t>(std::trunc(d)));
  return dflt;
}

Result<Value> FFormat(Interp&, const Value& v, CallArgs& a) {
  if (!a.pos.empty() && !a.kw.empty())
    return InvalidArgument("can't handle positional and keyword arguments at the same time");
  Value args;
  if (!a.kw.empty()) {
    DictData d;
    for (auto& [k, x] : a.kw) d.Set(Value(k), x);
    args = Value::MakeDict(std::move(d));
  } else {
    args = Value::MakeList(a.pos, true);
  }
  QS_ASSIGN_OR_RETURN(std::string s, PercentFormat(Str(v), args));
  return StrV(std::move(s));
}

Result<Value> FIndent(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "indent", {"width", "first", "blank"}, 0));
  if (v.is_undefined()) return UndefinedError(v);
  std::string ind = "    ";
  if (p[0] && p[0]->is_string()) ind = p[0]->str();
  if (p[0] && p[0]->is_integral())
    ind = std::string(static_cast<size_t>(std::clamp<int64_t>(p[0]->as_int(), 0, 1 << 16)), ' ');
  auto lines = StrSplitLines(Str(v) + "\n", false);
  std::string rv;
  if (Flag(p[2])) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + ind : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : ind + lines[i]);
  }
  if (Flag(p[1])) rv = ind + rv;
  return StrV(std::move(rv));
}

Result<Value> FItems(Interp&, const Value& v, CallArgs&) {
  if (v.is_undefined()) return Gen({});
  if (!v.is_dict()) return InvalidArgument("Can only get item pairs from a mapping.");
  std::vector<Value> items;
  for (const auto& [k, x] : v.dict().entries) items.push_back(Value::MakeList({k, x}, true));
  return Gen(std::move(items));
}

Result<Value> FJoin(Interp& in, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "join", {"d", "attribute"}, 0));
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  AttrGetter g = AttrGetter::Make(p[1]);
  std::string sep = p[0] ? Str(*p[0]) : "";
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    QS_ASSIGN_OR_RETURN(Value x, g(in, items[i]));
    if (i) out += sep;
    out += Str(x);
    QS_RETURN_IF_ERROR(in.CheckSize(out.size()));
  }
  return StrV(std::move(out));
}

Result<Value> FList(Interp&, const Value& v, CallArgs&) {
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  return Value::MakeList(std::move(items));
}

Result<Value> FMap(Interp& in, const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (!Truthy(v)) return Gen({});
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  if (a.pos.empty() && std::any_of(a.kw.begin(), a.kw.end(), [](auto& e) { return e.first == "attribute"; })) {
    QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "map", {"attribute", "default"}, 1));
    AttrGetter g = AttrGetter::Make(p[0]);
    g.dflt = p[1];
    for (auto& x : items) {
      QS_ASSIGN_OR_RETURN(Value r, g(in, x));
      out.push_back(std::move(r));
    }
    return Gen(std::move(out));
  }
  if (a.pos.empty()) return InvalidArgument("map requires a filter argument");
  if (!a.pos[0].is_string()) return InvalidArgument("map: filter name must be a string");
  std::string name = a.pos[0].str();
  CallArgs rest;
  rest.pos.assign(a.pos.begin() + 1, a.pos.end());
  rest.kw = a.kw;
  for (auto& x : items) {
    CallArgs args = rest;
    QS_ASSIGN_OR_RETURN(Value r, in.CallFilter(name, x, args));
    out.push_back(std::move(r));
  }
  return Gen(std::move(out));
}

Result<Value> SelectOrReject(Interp& in, const Value& v, CallArgs& a, bool attr, bool select) {
  if (!Truthy(v)) return Gen({});
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  size_t off = 0;
  AttrGetter g;
  if (attr) {
    if (a.pos.empty()) return InvalidArgument("Missing parameter for attribute name");
    g = AttrGetter::Make(a.pos[0]);
    off = 1;
  }
  std::vector<Value> out;
  for (auto& item : items) {
    QS_ASSIGN_OR_RETURN(Value x, g(in, item));
    bool ok;
    if (a.pos.size() > off) {
      if (!a.pos[off].is_string()) return InvalidArgument("test name must be a string");
      CallArgs targs;
      targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(off) + 1, a.pos.end());
      targs.kw = a.kw;
      QS_ASSIGN_OR_RETURN(ok, in.CallTest(a.pos[off].str(), x, targs));
    } else {
      ok = Truthy(x);
    }
    if (ok == select) out.push_back(item);
  }
  return Gen(std::move(out));
}

Result<Value> FSelect(Interp& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, false, true); }
Result<Value> FReject(Interp& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, false, false); }
Result<Value> FSelectAttr(Interp& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, true, true); }
Result<Value> FRejectAttr(Interp& in, const Value& v, CallArgs& a) { return SelectOrReject(in, v, a, true, false); }

Result<Value> MinMax(Interp& in, const Value& v, CallArgs& a, bool want_max) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, want_max ? "max" : "min", {"case_sensitive", "attribute"}, 0));
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  if (items.empty()) return Value::Undefined("No aggregated item, sequence was empty.");
  AttrGetter g = AttrGetter::Make(p[1]);
  g.lower = !Flag(p[0]);
  size_t best = 0;
  QS_ASSIGN_OR_RETURN(Value best_key, g(in, items[0]));
  for (size_t i = 1; i < items.size(); ++i) {
    QS_ASSIGN_OR_RETURN(Value k, g(in, items[i]));
    QS_ASSIGN_OR_RETURN(bool better, want_max ? PyLess(best_key, k) : PyLess(k, best_key));
    if (better) best = i, best_key = k;
  }
  return items[best];
}

Result<Value> FMin(Interp& in, const Value& v, CallArgs& a) { return MinMax(in, v, a, false); }
Result<Value> FMax(Interp& in, const Value& v, CallArgs& a) { return MinMax(in, v, a, true); }

Result<Value> FReplace(Interp& in, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "replace", {"old", "new", "count"}, 2));
  int64_t count = (p[2] && p[2]->is_integral()) ? p[2]->as_int() : -1;
  std::string r = StrReplace(Str(v), Str(*p[0]), Str(*p[1]), count);
  QS_RETURN_IF_ERROR(in.CheckSize(r.size()));
  return StrV(std::move(r));
}

Result<Value> FReverse(Interp&, const Value& v, CallArgs&) {
  if (v.is_string()) {
    auto cps = ToCodePoints(v.str());
    std::reverse(cps.begin(), cps.end());
    return StrV(FromCodePoints(cps));
  }
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  std::reverse(items.begin(), items.end());
  // reversed(list) is an iterator; a generator has no reversed() and becomes a list.
  if (v.is_iterator()) return Value::MakeList(std::move(items));
  return Gen(std::move(items));
}

Result<Value> FRound(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "round", {"precision", "method"}, 0));
  int64_t prec = p[0] && p[0]->is_integral() ? p[0]->as_int() : 0;
  std::string method = p[1] && p[1]->is_string() ? p[1]->str() : "common";
  if (method != "common" && method != "ceil" && method != "floor")
    return InvalidArgument("method must be common, ceil or floor");
  if (!v.is_number()) return InvalidArgument("type " + TypeName(v) + " doesn't define __round__ method");
  prec = std::clamp<int64_t>(prec, -300, 300);
  if (method == "common") {
    if (v.is_integral() && prec >= 0) return Value(v.as_int());
    double d = v.as_float();
    if (prec == 0) return Value(std::nearbyint(d));
    if (prec > 0) {
      char buf[512];
      std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::min<int64_t>(prec, 100)), d);
      return Value(std::strtod(buf, nullptr));
    }
    double m = std::pow(10.0, static_cast<double>(-prec));
    return Value(std::nearbyint(d / m) * m);
  }
  double m = std::pow(10.0, static_cast<double>(prec));
  double x = v.as_float() * m;
  return Value((method == "ceil" ? std::ceil(x) : std::floor(x)) / m);
}

Result<Value> FSort(Interp& in, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "sort", {"reverse", "case_sensitive", "attribute"}, 0));
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  std::vector<AttrGetter> getters;
  if (p[2] && p[2]->is_string()) {
    for (auto& part : StrSplit(p[2]->str(), ",", -1)) getters.push_back(AttrGetter::Make(Value(part)));
  } else {
    getters.push_back(AttrGetter::Make(p[2]));
  }
  std::vector<Value> keys;
  for (auto& item : items) {
    std::vector<Value> ks;
    for (auto g : getters) {
      g.lower = !Flag(p[1]);
      QS_ASSIGN_OR_RETURN(Value k, g(in, item));
      ks.push_back(std::move(k));
    }
    keys.push_back(ks.size() == 1 ? ks[0] : Value::MakeList(std::move(ks)));
  }
  QS_RETURN_IF_ERROR(SortBy(&items, std::move(keys), Flag(p[0])));
  return Value::MakeList(std::move(items));
}

Result<Value> FSum(Interp& in, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "sum", {"attribute", "start"}, 0));
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  AttrGetter g = AttrGetter::Make(p[0]);
  Value rv = p[1] ? *p[1] : Value(0);
  for (auto& x : items) {
    QS_ASSIGN_OR_RETURN(Value y, g(in, x));
    QS_ASSIGN_OR_RETURN(rv, BinaryOp("+", rv, y, in.limits()));
  }
  return rv;
}

// jinja2's title filter (not str.title): words start after -, whitespace, (, {, [ or <.
Result<Value> FTitle(Interp&, const Value& v, CallArgs&) {
  auto cps = ToCodePoints(Str(v));
  std::string out;
  bool at_start = true;
  for (char32_t c : cps) {
    bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || PyIsSpace(c);
    AppendUtf8(&out, sep ? c : at_start ? PyUpper(c) : PyLower(c));
    at_start = sep;
  }
  return StrV(std::move(out));
}

Result<Value> FToJson(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "tojson", {"ensure_ascii", "indent", "separators", "sort_keys"}, 0));
  JsonDumpOptions o;
  o.ensure_ascii = Flag(p[0]);
  if (p[1] && !p[1]->is_none()) {
    o.has_indent = true;
    if (p[1]->is_integral()) {
      o.indent = std::string(static_cast<size_t>(std::clamp<int64_t>(p[1]->as_int(), 0, 1 << 10)), ' ');
    } else if (p[1]->is_string()) {
      o.indent = p[1]->str();
    } else {
      return InvalidArgument("tojson: indent must be an int or a string");
    }
    o.item_sep = ",";
  }
  if (p[2] && !p[2]->is_none()) {
    if (!p[2]->is_list() || p[2]->list().items.size() != 2 || !p[2]->list().items[0].is_string() ||
        !p[2]->list().items[1].is_string())
      return InvalidArgument("tojson: separators must be a pair of strings");
    o.item_sep = p[2]->list().items[0].str();
    o.key_sep = p[2]->list().items[1].str();
  }
  o.sort_keys = Flag(p[3]);
  QS_ASSIGN_OR_RETURN(std::string s, JsonDumps(v, o));
  return StrV(std::move(s));
}

Result<Value> FFromJson(Interp&, const Value& v, CallArgs&) {
  if (!v.is_string()) return InvalidArgument("from_json expects a string, got " + TypeName(v));
  auto j = nlohmann::ordered_json::parse(v.str(), nullptr, false);
  if (j.is_discarded()) return InvalidArgument("from_json: invalid JSON");
  return FromJson(j);
}

Result<Value> FTrim(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "trim", {"chars"}, 0));
  if (p[0] && !p[0]->is_none()) {
    std::string chars = Str(*p[0]);
    return StrV(StrStrip(Str(v), &chars, true, true));
  }
  return StrV(StrStrip(Str(v), nullptr, true, true));
}

Result<Value> FTruncate(Interp&, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "truncate", {"length", "killwords", "end", "leeway"}, 0));
  int64_t length = p[0] && p[0]->is_integral() ? p[0]->as_int() : 255;
  std::string end = p[2] ? Str(*p[2]) : "...";
  int64_t leeway = p[3] && p[3]->is_integral() ? p[3]->as_int() : 5;
  auto s = ToCodePoints(Str(v));
  int64_t end_len = static_cast<int64_t>(CodePointCount(end));
  if (length < end_len) return InvalidArgument("expected length >= " + std::to_string(end_len));
  if (static_cast<int64_t>(s.size()) <= length + leeway) return StrV(FromCodePoints(s));
  std::string head = FromCodePoints(s, 0, static_cast<size_t>(length - end_len));
  if (Flag(p[1])) return StrV(head + end);
  auto parts = StrRSplit(head, " ", 1);
  return StrV(parts[0] + end);
}

Result<Value> FUnique(Interp& in, const Value& v, CallArgs& a) {
  QS_ASSIGN_OR_RETURN(auto p, BindArgs(a, "unique", {"case_sensitive", "attribute"}, 0));
  QS_ASSIGN_OR_RETURN(std::vector<Value> items, Iterate(v));
  AttrGetter g = AttrGetter::Make(p[1]);
  g.lower = !Flag(p[0]);
  std::vector<Value> seen, out;
  for (auto& x : items) {
    QS_ASSIGN_OR_RETURN(Value k, g(in, x));
    if (!IsHashable(k)) return InvalidArgument("unhashable type: '" + TypeName(k) + "'");
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return PyEquals(s, k); })) continue;
    seen.push_back(k);
    out.push_back(x);
  }
  return Gen(std::move(out));
}

Result<Value> FWordcount(Interp&, const Value& v, CallArgs&) {
  int64_t n = 0;
  bool in_word = false;
  for (char32_t c : ToCodePoints(Str(v))) {
    bool w = c == '_' || PyIsAlnum(c);
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value(n);
}

const std::unordered_map<std::string, FilterFn>& Filters() {
  static const auto* m = new std::unordered_map<std::string, FilterFn>{
      {"abs", FAbs},
      {"attr", FAttr},
      {"batch", FBatch},
      {"capitalize", FCapitalize},
      {"center", FCenter},
      {"count", FLength},
      {"d", FDefault},
      {"default", FDefault},
      {"dictsort", FDictsort},
      {"e", FEscape},
      {"escape", FEscape},
      {"forceescape", FEscape},
      {"first", FFirst},
      {"float", FFloat},
      {"format", FFormat},
      {"indent", FIndent},
      {"int", FInt},
      {"items", FItems},
      {"join", FJoin},
      {"last", FLast},
      {"length", FLength},
      {"list", FList},
      {"lower", FLower},
      {"map", FMap},
      {"max", FMax},
      {"min", FMin},
      {"reject", FReject},
      {"rejectattr", FRejectAttr},
      {"replace", FReplace},
      {"reverse", FReverse},
      {"round", FRound},
      {"safe", FSafe},
      {"select", FSelect},
      {"selectattr", FSelectAttr},
      {"sort", FSort},
      {"string", FString},
      {"sum", FSum},
      {"title", FTitle},
      {"tojson", FToJson},
      {"trim", FTrim},
      {"truncate", FTruncate},
      {"unique", FUnique},
      {"upper", FUpper},
      {"wordcount", FWordcount},
      {"from_json", FFromJson},
  };
  return *m;
}

// Filters jinja2 has that we do not implement: known (so templates parse as in jinja2), but
// calling one is an error.
bool IsUnimplementedFilter(const std::string& n) {
  return n == "filesizeformat" || n == "groupby" || n == "pprint" || n == "random" || n == "slice" ||
         n == "striptags" || n == "urlencode" || n == "urlize" || n == "wordwrap" || n == "xmlattr";
}

}  // namespace

bool IsKnownFilter(const std::string& name) { return Filters().count(name) > 0 || IsUnimplementedFilter(name); }

Result<Value> CallFilterFn(Interp& in, const std::string& name, const Value& subject, CallArgs& args) {
  auto it = Filters().find(name);
  if (it == Filters().end()) {
    if (IsUnimplementedFilter(name)) return Unsupported("the '" + name + "' filter is not supported");
    return InvalidArgument("No filter named '" + name + "' found.");
  }
  QS_RETURN_IF_ERROR(in.Step());
  return it->second(in, subject, args);
}

}  // namespace qs::jinja
