#include "jinja/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "jinja/jinja_unicode.h"

namespace qs::jinja {

Value Value::MakeList(std::vector<Value> items, bool tuple) {
  auto l = std::make_shared<ListData>();
  l->items = std::move(items);
  l->is_tuple = tuple;
  for (const auto& x : l->items) l->depth = std::max(l->depth, NestDepth(x) + 1);
  return Value(std::shared_ptr<const ListData>(std::move(l)));
}

Value Value::MakeDict(DictData d) {
  d.depth = 1;
  for (const auto& [k, v] : d.entries) d.depth = std::max({d.depth, NestDepth(k) + 1, NestDepth(v) + 1});
  return Value(std::shared_ptr<const DictData>(std::make_shared<DictData>(std::move(d))));
}

uint32_t NestDepth(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kList:
      return v.list().depth;
    case Value::Kind::kDict:
      return v.dict().depth;
    case Value::Kind::kIterator: {
      uint32_t d = 1;
      for (const auto& x : v.iter()->items) d = std::max(d, NestDepth(x) + 1);
      return d;
    }
    default:
      return 0;
  }
}

const void* Value::identity() const {
  switch (kind()) {
    case Kind::kList:
      return list_ptr().get();
    case Kind::kDict:
      return &dict();
    case Kind::kNamespace:
      return ns();
    case Kind::kCallable:
      return callable();
    case Kind::kIterator:
      return iter();
    case Kind::kLoop:
      return loop();
    default:
      return nullptr;
  }
}

const Value* DictData::FindStr(std::string_view key) const {
  auto it = str_index.find(std::string(key));
  return it == str_index.end() ? nullptr : &entries[it->second].second;
}

const Value* DictData::Find(const Value& key) const {
  if (key.is_string()) return FindStr(key.str());
  for (const auto& [k, v] : entries)
    if (!k.is_string() && PyEquals(k, key)) return &v;
  return nullptr;
}

void DictData::Set(Value key, Value value) {
  if (key.is_string()) {
    auto it = str_index.find(key.str());
    if (it != str_index.end()) {
      entries[it->second].second = std::move(value);
      return;
    }
    str_index.emplace(key.str(), entries.size());
  } else {
    for (auto& [k, v] : entries) {
      if (!k.is_string() && PyEquals(k, key)) {
        v = std::move(value);
        return;
      }
    }
  }
  entries.emplace_back(std::move(key), std::move(value));
}

Value* NamespaceData::Find(std::string_view name) {
  for (auto& [k, v] : attrs)
    if (k == name) return &v;
  return nullptr;
}

void NamespaceData::Set(const std::string& name, Value v) {
  if (Value* p = Find(name)) {
    *p = std::move(v);
  } else {
    attrs.emplace_back(name, std::move(v));
  }
}

std::string TypeName(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "NoneType";
    case Value::Kind::kBool:
      return "bool";
    case Value::Kind::kInt:
      return "int";
    case Value::Kind::kFloat:
      return "float";
    case Value::Kind::kString:
      return "str";
    case Value::Kind::kList:
      switch (v.list().view) {
        case ListData::View::kKeys:
          return "dict_keys";
        case ListData::View::kValues:
          return "dict_values";
        case ListData::View::kItems:
          return "dict_items";
        default:
          return v.list().is_tuple ? "tuple" : "list";
      }
    case Value::Kind::kDict:
      return "dict";
    case Value::Kind::kNamespace:
      return "Namespace";
    case Value::Kind::kCallable:
      return "function";
    case Value::Kind::kIterator:
      return "generator";
    case Value::Kind::kLoop:
      return "LoopContext";
  }
  return "object";
}

bool Truthy(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return false;
    case Value::Kind::kBool:
      return v.as_bool();
    case Value::Kind::kInt:
      return v.as_int() != 0;
    case Value::Kind::kFloat:
      return v.as_float() != 0.0;
    case Value::Kind::kString:
      return !v.str().empty();
    case Value::Kind::kList:
      return !v.list().items.empty();
    case Value::Kind::kDict:
      return !v.dict().entries.empty();
    default:
      return true;
  }
}

// CPython's float_repr: the shortest digits that round-trip, in fixed notation when the decimal
// exponent is in [-4, 16), else d.ddde+XX.
std::string FormatFloat(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t e = sci.find('e');
  std::string digits = sci.substr(0, e);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  int exp10 = std::stoi(sci.substr(e + 1));
  int decpt = exp10 + 1;  // value = 0.DIGITS * 10^decpt
  std::string out = neg ? "-" : "";
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(-decpt, '0') + digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits + std::string(decpt - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, decpt) + "." + digits.substr(decpt);
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    int x = decpt - 1;
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    out += eb;
  }
  return out;
}

std::string ReprString(std::string_view s) {
  bool has_sq = s.find('\'') != std::string_view::npos;
  bool has_dq = s.find('"') != std::string_view::npos;
  char quote = (has_sq && !has_dq) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    char32_t c = DecodeUtf8(s, &i);
    char buf[16];
    if (c == static_cast<char32_t>(quote) || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c < 0x7F || PyIsPrintable(c)) {
      AppendUtf8(&out, c);
    } else if (c <= 0xFF) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(c));
      out += buf;
    } else if (c <= 0xFFFF) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      std::snprintf(buf, sizeof buf, "\\U%08x", static_cast<unsigned>(c));
      out += buf;
    }
  }
  out += quote;
  return out;
}

static std::string LoopRepr(const LoopData& l) {
  return "<LoopContext " + std::to_string(l.index0 + 1) + "/" + std::to_string(l.items->size()) + ">";
}

std::string Repr(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return "Undefined";
    case Value::Kind::kNone:
      return "None";
    case Value::Kind::kBool:
      return v.as_bool() ? "True" : "False";
    case Value::Kind::kInt:
      return std::to_string(v.as_int());
    case Value::Kind::kFloat:
      return FormatFloat(v.as_float());
    case Value::Kind::kString:
      return ReprString(v.str());
    case Value::Kind::kList: {
      const auto& l = v.list();
      std::string out = l.is_tuple ? "(" : "[";
      if (l.view != ListData::View::kNone) out = TypeName(v) + "([";
      for (size_t i = 0; i < l.items.size(); ++i) {
        if (i) out += ", ";
        out += Repr(l.items[i]);
      }
      if (l.is_tuple && l.items.size() == 1) out += ",";
      if (l.view != ListData::View::kNone) return out + "])";
      return out + (l.is_tuple ? ")" : "]");
    }
    case Value::Kind::kDict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, val] : v.dict().entries) {
        if (!first) out += ", ";
        first = false;
        out += Repr(k) + ": " + Repr(val);
      }
      return out + "}";
    }
    case Value::Kind::kNamespace: {
      // Namespaces are mutable and may contain themselves; like CPython's dict repr, a dict
      // already being printed shows as {...}.
      thread_local std::vector<const NamespaceData*> active;
      if (std::find(active.begin(), active.end(), v.ns()) != active.end()) return "<Namespace {...}>";
      if (active.size() >= kMaxValueDepth) return "<Namespace {...}>";
      active.push_back(v.ns());
      std::string out = "<Namespace {";
      bool first = true;
      for (const auto& [k, val] : v.ns()->attrs) {
        if (!first) out += ", ";
        first = false;
        out += ReprString(k) + ": " + Repr(val);
      }
      active.pop_back();
      return out + "}>";
    }
    case Value::Kind::kCallable:
      return v.callable()->Repr();
    case Value::Kind::kIterator:
      return "<generator object>";
    case Value::Kind::kLoop:
      return LoopRepr(*v.loop());
  }
  return "";
}

std::string Str(const Value& v) {
  if (v.is_string()) return v.str();
  if (v.is_undefined()) return "";
  return Repr(v);
}

bool PyEquals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() == b.as_int();
    return a.as_float() == b.as_float();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
      return true;
    case Value::Kind::kString:
      return a.str() == b.str();
    case Value::Kind::kList: {
      const auto& x = a.list();
      const auto& y = b.list();
      if (x.is_tuple != y.is_tuple || x.view != y.view || x.items.size() != y.items.size()) return false;
      for (size_t i = 0; i < x.items.size(); ++i)
        if (!PyEquals(x.items[i], y.items[i])) return false;
      return true;
    }
    case Value::Kind::kDict: {
      const auto& x = a.dict();
      const auto& y = b.dict();
      if (x.entries.size() != y.entries.size()) return false;
      for (const auto& [k, v] : x.entries) {
        const Value* o = y.Find(k);
        if (!o || !PyEquals(v, *o)) return false;
      }
      return true;
    }
    default:
      return a.identity() == b.identity();
  }
}

Result<bool> PyLess(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int();
    return a.as_float() < b.as_float();
  }
  if (a.is_string() && b.is_string()) return a.str() < b.str();
  if (a.is_list() && b.is_list() && a.list().is_tuple == b.list().is_tuple) {
    const auto& x = a.list().items;
    const auto& y = b.list().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (PyEquals(x[i], y[i])) continue;
      return PyLess(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return InvalidArgument("'<' not supported between instances of '" + TypeName(a) + "' and '" + TypeName(b) + "'");
}

bool IsHashable(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kDict:
      return false;
    case Value::Kind::kList:
      if (!v.list().is_tuple) return false;
      for (const auto& x : v.list().items)
        if (!IsHashable(x)) return false;
      return true;
    case Value::Kind::kNamespace:
      return false;
    default:
      return true;
  }
}

Result<std::vector<Value>> Iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return std::vector<Value>{};
    case Value::Kind::kList:
      return v.list().items;
    case Value::Kind::kDict: {
      std::vector<Value> keys;
      keys.reserve(v.dict().entries.size());
      for (const auto& e : v.dict().entries) keys.push_back(e.first);
      return keys;
    }
    case Value::Kind::kString: {
      std::vector<Value> chars;
      const std::string& s = v.str();
      for (size_t i = 0; i < s.size();) {
        size_t j = i;
        DecodeUtf8(s, &j);
        chars.emplace_back(s.substr(i, j - i));
        i = j;
      }
      return chars;
    }
    case Value::Kind::kIterator: {
      IterData* it = v.iter();
      std::vector<Value> rest(it->items.begin() + static_cast<std::ptrdiff_t>(it->pos), it->items.end());
      it->pos = it->items.size();
      return rest;
    }
    default:
      return InvalidArgument("'" + TypeName(v) + "' object is not iterable");
  }
}

Result<int64_t> Length(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUndefined:
      return int64_t{0};
    case Value::Kind::kString:
      return static_cast<int64_t>(CodePointCount(v.str()));
    case Value::Kind::kList:
      return static_cast<int64_t>(v.list().items.size());
    case Value::Kind::kDict:
      return static_cast<int64_t>(v.dict().entries.size());
    default:
      return InvalidArgument("object of type '" + TypeName(v) + "' has no len()");
  }
}

static Result<Value> FromJsonAt(const nlohmann::ordered_json& j, uint32_t depth) {
  if (depth > kMaxValueDepth) return InvalidArgument("JSON input nested too deeply");
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return Value::None();
    case nlohmann::ordered_json::value_t::boolean:
      return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      uint64_t u = j.get<uint64_t>();
      // Python ints are unbounded; past int64 we fall back to a float.
      if (u <= static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<int64_t>(u));
      return Value(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return Value(j.get_ref<const std::string&>());
    case nlohmann::ordered_json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& x : j) {
        QS_ASSIGN_OR_RETURN(Value v, FromJsonAt(x, depth + 1));
        items.push_back(std::move(v));
      }
      return Value::MakeList(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      DictData d;
      d.entries.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        QS_ASSIGN_OR_RETURN(Value v, FromJsonAt(it.value(), depth + 1));
        d.Set(Value(it.key()), std::move(v));
      }
      return Value::MakeDict(std::move(d));
    }
    default:
      return Value::None();
  }
}

Result<Value> FromJson(const nlohmann::ordered_json& j) { return FromJsonAt(j, 1); }

// json.encoder's string escaping (C accelerated encoder, same output).
static void JsonQuote(std::string_view s, bool ensure_ascii, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    char32_t c = DecodeUtf8(s, &i);
    char buf[16];
    switch (c) {
      case '"':
        *out += "\\\"";
        continue;
      case '\\':
        *out += "\\\\";
        continue;
      case '\n':
        *out += "\\n";
        continue;
      case '\r':
        *out += "\\r";
        continue;
      case '\t':
        *out += "\\t";
        continue;
      case '\b':
        *out += "\\b";
        continue;
      case '\f':
        *out += "\\f";
        continue;
      default:
        break;
    }
    if (c < 0x20 || (ensure_ascii && c >= 0x7F)) {
      if (c >= 0x10000) {
        char32_t v = c - 0x10000;
        std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 | (v >> 10)),
                      static_cast<unsigned>(0xDC00 | (v & 0x3FF)));
      } else {
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      }
      *out += buf;
    } else {
      out->append(s.substr(start, i - start));
    }
  }
  out->push_back('"');
}

static std::string JsonFloat(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return FormatFloat(d);
}

static Status JsonDump(const Value& v, const JsonDumpOptions& opt, int level, std::string* out) {
  if (level > 512) return InvalidArgument("json.dumps: nesting too deep");
  auto newline = [&](int lvl) {
    out->push_back('\n');
    for (int i = 0; i < lvl; ++i) *out += opt.indent;
  };
  switch (v.kind()) {
    case Value::Kind::kNone:
      *out += "null";
      return Status::Ok();
    case Value::Kind::kBool:
      *out += v.as_bool() ? "true" : "false";
      return Status::Ok();
    case Value::Kind::kInt:
      *out += std::to_string(v.as_int());
      return Status::Ok();
    case Value::Kind::kFloat:
      *out += JsonFloat(v.as_float());
      return Status::Ok();
    case Value::Kind::kString:
      JsonQuote(v.str(), opt.ensure_ascii, out);
      return Status::Ok();
    case Value::Kind::kList: {
      const auto& items = v.list().items;
      if (v.list().view != ListData::View::kNone)
        return InvalidArgument("Object of type " + TypeName(v) + " is not JSON serializable");
      if (items.empty()) {
        *out += "[]";
        return Status::Ok();
      }
      out->push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) *out += opt.item_sep;
        if (opt.has_indent) newline(level + 1);
        QS_RETURN_IF_ERROR(JsonDump(items[i], opt, level + 1, out));
      }
      if (opt.has_indent) newline(level);
      out->push_back(']');
      return Status::Ok();
    }
    case Value::Kind::kDict: {
      const auto& entries = v.dict().entries;
      if (entries.empty()) {
        *out += "{}";
        return Status::Ok();
      }
      std::vector<const std::pair<Value, Value>*> order;
      for (const auto& e : entries) order.push_back(&e);
      if (opt.sort_keys) {
        Status err;
        std::stable_sort(order.begin(), order.end(), [&](auto* a, auto* b) {
          auto r = PyLess(a->first, b->first);
          if (!r.ok()) {
            err = r.status();
            return false;
          }
          return r.value();
        });
        QS_RETURN_IF_ERROR(err);
      }
      out->push_back('{');
      bool first = true;
      for (const auto* e : order) {
        if (!first) *out += opt.item_sep;
        first = false;
        if (opt.has_indent) newline(level + 1);
        const Value& k = e->first;
        if (k.is_string()) {
          JsonQuote(k.str(), opt.ensure_ascii, out);
        } else if (k.is_bool()) {
          *out += k.as_bool() ? "\"true\"" : "\"false\"";
        } else if (k.is_int()) {
          *out += "\"" + std::to_string(k.as_int()) + "\"";
        } else if (k.is_float()) {
          *out += "\"" + JsonFloat(k.as_float()) + "\"";
        } else if (k.is_none()) {
          *out += "\"null\"";
        } else {
          return InvalidArgument("keys must be str, int, float, bool or None, not " + TypeName(k));
        }
        *out += opt.key_sep;
        QS_RETURN_IF_ERROR(JsonDump(e->second, opt, level + 1, out));
      }
      if (opt.has_indent) newline(level);
      out->push_back('}');
      return Status::Ok();
    }
    default:
      return InvalidArgument("Object of type " + TypeName(v) + " is not JSON serializable");
  }
}

Result<std::string> JsonDumps(const Value& v, const JsonDumpOptions& opt) {
  std::string out;
  QS_RETURN_IF_ERROR(JsonDump(v, opt, 0, &out));
  return out;
}

}  // namespace qs::jinja
