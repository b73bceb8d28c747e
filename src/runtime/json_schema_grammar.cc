#include "runtime/json_schema_grammar.h"

#include <algorithm>
#include <array>

namespace qs {

using ojson = nlohmann::ordered_json;
using Seq = Grammar::Seq;

namespace {

constexpr int kMaxDepth = 64;          // schema nesting (the request's JSON depth is bounded too)
constexpr int kMaxExpand = 4096;       // maxLength / maxItems written out as bounded repetition
constexpr double kMaxSafe = 9007199254740991.0;  // 2^53 - 1: zod's and JSON's "any integer" bounds

bool IsAnnotation(const std::string& k) {
  static const char* kIgnored[] = {"title", "description", "default", "examples", "$schema", "$id", "$comment",
                                   "deprecated", "readOnly", "writeOnly", "strict", "$defs", "definitions"};
  return std::find(std::begin(kIgnored), std::end(kIgnored), k) != std::end(kIgnored);
}

bool IsHandled(const std::string& k) {
  static const char* kHandled[] = {"type", "properties", "required", "additionalProperties", "items", "minItems",
                                   "maxItems", "minLength", "maxLength", "enum", "const", "anyOf", "oneOf",
                                   "allOf", "nullable", "$ref", "minimum", "maximum"};
  return std::find(std::begin(kHandled), std::end(kHandled), k) != std::end(kHandled);
}

Status Unsupported(const std::string& what, const std::string& path) {
  return InvalidArgument(what + " at " + path);
}

Result<int> IntKey(const ojson& s, const char* key, int dflt, const std::string& path) {
  auto it = s.find(key);
  if (it == s.end()) return dflt;
  if (!it->is_number_integer() || it->get<int64_t>() < 0)
    return Unsupported(std::string("'") + key + "' must be a non-negative integer", path);
  if (it->get<int64_t>() > kMaxExpand)
    return Unsupported(std::string("'") + key + "' above " + std::to_string(kMaxExpand) + " is not supported", path);
  return static_cast<int>(it->get<int64_t>());
}

}  // namespace

int JsonSchemaGrammar::Ws() {
  if (ws_ < 0) ws_ = g_->Opt(g_->Lit(" "));
  return ws_;
}

int JsonSchemaGrammar::StringRule(int min_len, int max_len) {
  if (chr_ < 0) {
    // One character of a JSON string (RFC 8259 §7): printable ASCII but '"' and '\', UTF-8 beyond
    // ASCII, or an escape; \u escapes name no surrogate (an unpaired one is not valid JSON text).
    ByteSet ascii, esc, hex, hex_no_d, oct;
    for (int b = 0x20; b < 0x80; ++b)
      if (b != '"' && b != '\\') ascii.set(static_cast<size_t>(b));
    for (char c : std::string("\"\\/bfnrt")) esc.set(static_cast<uint8_t>(c));
    for (char c : std::string("0123456789abcdefABCDEF")) hex.set(static_cast<uint8_t>(c));
    hex_no_d = hex;
    hex_no_d.reset('d');
    hex_no_d.reset('D');
    for (char c : std::string("01234567")) oct.set(static_cast<uint8_t>(c));
    chr_ = g_->Utf8Char(ascii);
    const Grammar::Elem h = g_->Set(hex), bs = g_->Byte('\\'), u = g_->Byte('u');
    g_->AddAlt(chr_, {bs, g_->Set(esc)});
    g_->AddAlt(chr_, {bs, u, g_->Set(hex_no_d), h, h, h});
    ByteSet d;
    d.set('d');
    d.set('D');
    g_->AddAlt(chr_, {bs, u, g_->Set(d), g_->Set(oct), h, h});
  }
  const bool any = min_len == 0 && max_len < 0;
  if (any && str_ >= 0) return str_;
  int body = any ? g_->Star({Grammar::Ref(chr_)}) : g_->Repeat({Grammar::Ref(chr_)}, min_len, max_len);
  int r = g_->NewRule();
  g_->AddAlt(r, {g_->Byte('"'), Grammar::Ref(body), g_->Byte('"')});
  if (any) str_ = r;
  return r;
}

int JsonSchemaGrammar::Str() { return StringRule(0, -1); }

int JsonSchemaGrammar::Number(bool integer, bool non_negative) {
  ByteSet digit, nz, e, pm;
  for (char c = '0'; c <= '9'; ++c) digit.set(static_cast<uint8_t>(c));
  for (char c = '1'; c <= '9'; ++c) nz.set(static_cast<uint8_t>(c));
  e.set('e');
  e.set('E');
  pm.set('+');
  pm.set('-');
  const Grammar::Elem d = g_->Set(digit);
  int intpart = g_->NewRule();
  g_->AddAlt(intpart, {g_->Byte('0')});
  g_->AddAlt(intpart, {g_->Set(nz), Grammar::Ref(g_->Repeat({d}, 0, 15))});
  Seq s;
  if (!non_negative) s.push_back(Grammar::Ref(g_->Opt({g_->Byte('-')})));
  s.push_back(Grammar::Ref(intpart));
  if (!integer) {
    s.push_back(Grammar::Ref(g_->Opt({g_->Byte('.'), Grammar::Ref(g_->Repeat({d}, 1, 16))})));
    s.push_back(Grammar::Ref(
        g_->Opt({g_->Set(e), Grammar::Ref(g_->Opt({g_->Set(pm)})), Grammar::Ref(g_->Repeat({d}, 1, 2))})));
  }
  int r = g_->NewRule();
  g_->AddAlt(r, s);
  return r;
}

int JsonSchemaGrammar::Literal(const ojson& value) {
  int r = g_->NewRule();
  g_->AddAlt(r, g_->Lit(value.dump(-1, ' ', false, ojson::error_handler_t::replace)));
  return r;
}

int JsonSchemaGrammar::AnyObject() {
  AnyValue();
  return any_obj_;
}

int JsonSchemaGrammar::AnyValue() {
  if (any_ >= 0) return any_;
  any_ = g_->NewRule();
  any_obj_ = g_->NewRule();
  const int ws = Ws(), str = Str();
  // { } | { "k": V (, "k": V)* }
  Seq member = {Grammar::Ref(str), g_->Byte(':'), Grammar::Ref(ws), Grammar::Ref(any_)};
  Seq more = {g_->Byte(','), Grammar::Ref(ws)};
  more.insert(more.end(), member.begin(), member.end());
  g_->AddAlt(any_obj_, {g_->Byte('{'), g_->Byte('}')});
  Seq obj = {g_->Byte('{')};
  obj.insert(obj.end(), member.begin(), member.end());
  obj.push_back(Grammar::Ref(g_->Star(more)));
  obj.push_back(g_->Byte('}'));
  g_->AddAlt(any_obj_, obj);
  int arr = g_->NewRule();
  g_->AddAlt(arr, {g_->Byte('['), g_->Byte(']')});
  g_->AddAlt(arr, {g_->Byte('['), Grammar::Ref(any_),
                   Grammar::Ref(g_->Star({g_->Byte(','), Grammar::Ref(ws), Grammar::Ref(any_)})), g_->Byte(']')});
  g_->AddAlt(any_, {Grammar::Ref(any_obj_)});
  g_->AddAlt(any_, {Grammar::Ref(arr)});
  g_->AddAlt(any_, {Grammar::Ref(str)});
  g_->AddAlt(any_, {Grammar::Ref(Number(false, false))});
  for (const char* lit : {"true", "false", "null"}) g_->AddAlt(any_, g_->Lit(lit));
  return any_;
}

Result<int> JsonSchemaGrammar::Compile(const ojson& s, const std::string& path) {
  if (s.is_boolean()) {
    if (s.get<bool>()) return AnyValue();
    return Unsupported("the schema 'false' accepts nothing", path);
  }
  if (!s.is_object()) return Unsupported("a schema must be an object or a boolean", path);
  if (depth_ >= kMaxDepth) return Unsupported("schema nested too deep", path);
  struct DepthGuard {
    int& d;
    explicit DepthGuard(int& x) : d(++x) {}
    ~DepthGuard() { --d; }
  } guard(depth_);
  for (auto it = s.begin(); it != s.end(); ++it)
    if (!IsAnnotation(it.key()) && !IsHandled(it.key()))
      return Unsupported("unsupported JSON schema keyword '" + it.key() + "'", path);

  int r;
  if (auto ref = s.find("$ref"); ref != s.end()) {
    if (!ref->is_string() || ref->get<std::string>().rfind("#/", 0) != 0)
      return Unsupported("'$ref' must point into this schema (\"#/$defs/...\")", path);
    const std::string target = ref->get<std::string>();
    if (auto it = refs_.find(target); it != refs_.end()) {
      r = it->second;
    } else {
      const ojson* node = nullptr;
      try {
        node = &root_.at(ojson::json_pointer(target.substr(1)));
      } catch (const std::exception&) {
        return Unsupported("'$ref' " + target + " points nowhere", path);
      }
      r = g_->NewRule();
      refs_[target] = r;  // before compiling: a recursive schema refers to itself
      QS_ASSIGN_OR_RETURN(int t, Compile(*node, target));
      g_->AddAlt(r, {Grammar::Ref(t)});
    }
  } else if (auto en = s.find("enum"); en != s.end()) {
    if (!en->is_array() || en->empty()) return Unsupported("'enum' must be a non-empty array", path);
    r = g_->NewRule();
    for (auto& v : *en) g_->AddAlt(r, {Grammar::Ref(Literal(v))});
  } else if (auto c = s.find("const"); c != s.end()) {
    r = Literal(*c);
  } else if (s.contains("anyOf") || s.contains("oneOf")) {
    // oneOf as anyOf: the alternatives SDKs write (a discriminated union, T | null) do not overlap.
    const ojson& alts = s.contains("anyOf") ? s["anyOf"] : s["oneOf"];
    const std::string key = s.contains("anyOf") ? "anyOf" : "oneOf";
    if (!alts.is_array() || alts.empty()) return Unsupported("'" + key + "' must be a non-empty array", path);
    r = g_->NewRule();
    for (size_t i = 0; i < alts.size(); ++i) {
      QS_ASSIGN_OR_RETURN(int a, Compile(alts[i], path + "/" + key + "/" + std::to_string(i)));
      g_->AddAlt(r, {Grammar::Ref(a)});
    }
  } else if (auto all = s.find("allOf"); all != s.end()) {
    if (!all->is_array() || all->size() != 1)
      return Unsupported("'allOf' with more than one schema is not supported", path);
    QS_ASSIGN_OR_RETURN(r, Compile((*all)[0], path + "/allOf/0"));
  } else if (auto t = s.find("type"); t != s.end()) {
    if (t->is_string()) {
      QS_ASSIGN_OR_RETURN(r, CompileType(t->get<std::string>(), s, path));
    } else if (t->is_array() && !t->empty()) {
      r = g_->NewRule();
      for (auto& name : *t) {
        if (!name.is_string()) return Unsupported("'type' must be a string or an array of strings", path);
        QS_ASSIGN_OR_RETURN(int a, CompileType(name.get<std::string>(), s, path));
        g_->AddAlt(r, {Grammar::Ref(a)});
      }
    } else {
      return Unsupported("'type' must be a string or an array of strings", path);
    }
  } else if (s.contains("properties") || s.contains("additionalProperties") || s.contains("required")) {
    QS_ASSIGN_OR_RETURN(r, CompileObject(s, path));
  } else if (s.contains("items")) {
    QS_ASSIGN_OR_RETURN(r, CompileArray(s, path));
  } else {
    r = AnyValue();
  }
  if (auto n = s.find("nullable"); n != s.end() && n->is_boolean() && n->get<bool>()) {
    int alt = g_->NewRule();
    g_->AddAlt(alt, {Grammar::Ref(r)});
    g_->AddAlt(alt, g_->Lit("null"));
    r = alt;
  }
  return r;
}

Result<int> JsonSchemaGrammar::CompileType(const std::string& type, const ojson& s, const std::string& path) {
  if (type == "string") {
    QS_ASSIGN_OR_RETURN(int lo, IntKey(s, "minLength", 0, path));
    QS_ASSIGN_OR_RETURN(int hi, IntKey(s, "maxLength", -1, path));
    if (hi >= 0 && hi < lo) return Unsupported("'maxLength' below 'minLength'", path);
    return StringRule(lo, hi);
  }
  if (type == "number" || type == "integer") {
    // Bounds: minimum >= 0 is written as "no minus sign"; the bounds of the whole safe-integer
    // range (what zod writes for .int()) change nothing; other bounds are not enforced, so refused.
    bool non_negative = false;
    if (auto m = s.find("minimum"); m != s.end()) {
      if (!m->is_number()) return Unsupported("'minimum' must be a number", path);
      double v = m->get<double>();
      if (v == 0 || (v == 1 && type == "integer")) non_negative = true;
      else if (v > -kMaxSafe) return Unsupported("unsupported JSON schema keyword 'minimum' (other than 0 or 1 for integers)", path);
    }
    if (auto m = s.find("maximum"); m != s.end()) {
      if (!m->is_number()) return Unsupported("'maximum' must be a number", path);
      if (m->get<double>() < kMaxSafe) return Unsupported("unsupported JSON schema keyword 'maximum'", path);
    }
    if (non_negative && type == "integer" && s.value("minimum", 0.0) == 1.0) {
      // minimum 1 (zod's .positive() on ints): no minus sign and not 0.
      ByteSet digit, nz;
      for (char c = '0'; c <= '9'; ++c) digit.set(static_cast<uint8_t>(c));
      for (char c = '1'; c <= '9'; ++c) nz.set(static_cast<uint8_t>(c));
      int r = g_->NewRule();
      g_->AddAlt(r, {g_->Set(nz), Grammar::Ref(g_->Repeat({g_->Set(digit)}, 0, 15))});
      return r;
    }
    return Number(type == "integer", non_negative);
  }
  if (type == "boolean") {
    int r = g_->NewRule();
    g_->AddAlt(r, g_->Lit("true"));
    g_->AddAlt(r, g_->Lit("false"));
    return r;
  }
  if (type == "null") return Literal(nullptr);
  if (type == "object") return CompileObject(s, path);
  if (type == "array") return CompileArray(s, path);
  return Unsupported("unknown JSON schema type '" + type + "'", path);
}

Result<int> JsonSchemaGrammar::CompileObject(const ojson& s, const std::string& path) {
  static const ojson kEmpty = ojson::object();
  const ojson& props = s.contains("properties") ? s["properties"] : kEmpty;
  if (!props.is_object()) return Unsupported("'properties' must be an object", path);
  std::vector<std::string> required;
  if (auto req = s.find("required"); req != s.end()) {
    if (!req->is_array()) return Unsupported("'required' must be an array of names", path);
    for (auto& n : *req) {
      if (!n.is_string()) return Unsupported("'required' must be an array of names", path);
      if (!props.contains(n.get<std::string>()))
        return Unsupported("required property '" + n.get<std::string>() + "' is not in 'properties'", path);
      required.push_back(n.get<std::string>());
    }
  }
  const ojson* extra = nullptr;
  if (auto ap = s.find("additionalProperties"); ap != s.end()) {
    if (ap->is_object()) extra = &*ap;
    else if (!ap->is_boolean()) return Unsupported("'additionalProperties' must be a boolean or a schema", path);
  }
  const int ws = Ws();
  if (props.empty()) {
    if (!extra) {
      // No declared property: with additionalProperties false only {}, else any object.
      auto ap = s.find("additionalProperties");
      if (ap != s.end() && ap->is_boolean() && !ap->get<bool>()) {
        int r = g_->NewRule();
        g_->AddAlt(r, g_->Lit("{}"));
        return r;
      }
      return AnyObject();
    }
    // A map: string keys, values of one schema.
    QS_ASSIGN_OR_RETURN(int v, Compile(*extra, path + "/additionalProperties"));
    Seq member = {Grammar::Ref(Str()), g_->Byte(':'), Grammar::Ref(ws), Grammar::Ref(v)};
    Seq more = {g_->Byte(','), Grammar::Ref(ws)};
    more.insert(more.end(), member.begin(), member.end());
    int r = g_->NewRule();
    g_->AddAlt(r, g_->Lit("{}"));
    Seq full = {g_->Byte('{')};
    full.insert(full.end(), member.begin(), member.end());
    full.push_back(Grammar::Ref(g_->Star(more)));
    full.push_back(g_->Byte('}'));
    g_->AddAlt(r, full);
    return r;
  }
  // Properties in the schema's order, optional ones may be left out. S(i, c): properties i.. with
  // c = "something was written before" (a comma is needed).
  std::vector<std::string> keys;
  std::vector<int> values;
  for (auto it = props.begin(); it != props.end(); ++it) {
    keys.push_back(it.key());
    QS_ASSIGN_OR_RETURN(int v, Compile(it.value(), path + "/properties/" + it.key()));
    values.push_back(v);
  }
  const size_t n = keys.size();
  std::vector<std::array<int, 2>> S(n + 1);
  for (int c = 0; c < 2; ++c) {
    S[n][static_cast<size_t>(c)] = g_->NewRule();
    g_->AddAlt(S[n][static_cast<size_t>(c)], {});
  }
  for (size_t i = n; i-- > 0;) {
    const bool req = std::find(required.begin(), required.end(), keys[i]) != required.end();
    for (int c = 0; c < 2; ++c) {
      int r = g_->NewRule();
      Seq item;
      if (c) item = {g_->Byte(','), Grammar::Ref(ws)};
      Seq key = g_->Lit(ojson(keys[i]).dump(-1, ' ', false, ojson::error_handler_t::replace));
      item.insert(item.end(), key.begin(), key.end());
      item.push_back(g_->Byte(':'));
      item.push_back(Grammar::Ref(ws));
      item.push_back(Grammar::Ref(values[i]));
      item.push_back(Grammar::Ref(S[i + 1][1]));
      g_->AddAlt(r, item);
      if (!req) g_->AddAlt(r, {Grammar::Ref(S[i + 1][static_cast<size_t>(c)])});
      S[i][static_cast<size_t>(c)] = r;
    }
  }
  int r = g_->NewRule();
  g_->AddAlt(r, {g_->Byte('{'), Grammar::Ref(S[0][0]), g_->Byte('}')});
  return r;
}

Result<int> JsonSchemaGrammar::CompileArray(const ojson& s, const std::string& path) {
  int item;
  if (auto it = s.find("items"); it != s.end()) {
    QS_ASSIGN_OR_RETURN(item, Compile(*it, path + "/items"));
  } else {
    item = AnyValue();
  }
  QS_ASSIGN_OR_RETURN(int lo, IntKey(s, "minItems", 0, path));
  QS_ASSIGN_OR_RETURN(int hi, IntKey(s, "maxItems", -1, path));
  if (hi >= 0 && hi < lo) return Unsupported("'maxItems' below 'minItems'", path);
  int r = g_->NewRule();
  if (lo == 0) g_->AddAlt(r, g_->Lit("[]"));
  if (hi != 0) {
    Seq more = {g_->Byte(','), Grammar::Ref(Ws()), Grammar::Ref(item)};
    int rest = g_->Repeat(more, std::max(lo, 1) - 1, hi < 0 ? -1 : hi - 1);
    g_->AddAlt(r, {g_->Byte('['), Grammar::Ref(item), Grammar::Ref(rest), g_->Byte(']')});
  }
  return r;
}

Result<std::shared_ptr<Grammar>> JsonSchemaToGrammar(const ojson& schema) {
  auto g = std::make_shared<Grammar>();
  JsonSchemaGrammar c(g.get(), schema);
  QS_ASSIGN_OR_RETURN(int root, c.Compile(schema));
  g->set_root(root);
  return g;
}

}  // namespace qs
