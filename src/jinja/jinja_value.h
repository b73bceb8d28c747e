// Runtime values of the Jinja interpreter, modelled on the Python objects jinja2 works with:
// Undefined, None, bool, int, float, str, list/tuple, dict, Namespace, callables, generators and
// the loop object. Conversions to text (str/repr) and JSON (json.dumps) follow CPython byte for
// byte because chat templates print them into prompts.
//
// Lists and dicts are immutable once built (transformers renders in an ImmutableSandbox, which
// forbids list.append & co), so they are shared by reference. Namespaces are the only mutable
// objects; they are owned by the render (see Interp) and referenced by raw pointer, which keeps
// reference cycles (ns.self = ns) from leaking.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "base/status.h"

namespace qs::jinja {

class Value;
class Interp;

struct ListData {
  std::vector<Value> items;
  bool is_tuple = false;
  // dict.keys()/values()/items() views: iterable like a list, but printed as
  // "dict_items([...])", not subscriptable and not JSON serializable (as in Python).
  enum class View : uint8_t { kNone, kKeys, kValues, kItems } view = View::kNone;
  uint32_t depth = 1;  // nesting height (see NestDepth)
};

// A Python dict: insertion-ordered; string keys are indexed for lookup.
struct DictData {
  std::vector<std::pair<Value, Value>> entries;
  std::unordered_map<std::string, size_t> str_index;
  uint32_t depth = 1;  // nesting height, set by Value::MakeDict

  const Value* Find(const Value& key) const;
  const Value* FindStr(std::string_view key) const;
  // Replaces the value of an existing key in place (keeping its position) or appends.
  void Set(Value key, Value value);
};

struct NamespaceData {
  std::vector<std::pair<std::string, Value>> attrs;
  Value* Find(std::string_view name);
  void Set(const std::string& name, Value v);
};

// A Python generator (map/select/reverse results): iterating consumes it, like in Python.
struct IterData {
  std::vector<Value> items;
  size_t pos = 0;
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
};

class Callable {
 public:
  virtual ~Callable() = default;
  virtual std::string Repr() const = 0;
  virtual Result<Value> Call(Interp& in, CallArgs& args) = 0;
};

struct LoopData;

class Value {
 public:
  enum class Kind : uint8_t {
    kUndefined,
    kNone,
    kBool,
    kInt,
    kFloat,
    kString,
    kList,
    kDict,
    kNamespace,
    kCallable,
    kIterator,
    kLoop
  };
  struct UndefinedTag {
    std::string hint;  // why it is undefined, for error messages ("'x' is undefined")
  };
  struct NoneTag {};

  Value() : v_(UndefinedTag{}) {}
  Value(bool b) : v_(b) {}                                        // NOLINT
  Value(int64_t i) : v_(i) {}                                     // NOLINT
  Value(int i) : v_(static_cast<int64_t>(i)) {}                   // NOLINT
  Value(double d) : v_(d) {}                                      // NOLINT
  Value(std::string s) : v_(std::move(s)) {}                      // NOLINT
  Value(const char* s) : v_(std::string(s)) {}                    // NOLINT
  Value(std::string_view s) : v_(std::string(s)) {}               // NOLINT
  Value(std::shared_ptr<const ListData> l) : v_(std::move(l)) {}  // NOLINT
  Value(std::shared_ptr<const DictData> d) : v_(std::move(d)) {}  // NOLINT
  Value(NamespaceData* ns) : v_(ns) {}                            // NOLINT
  Value(std::shared_ptr<Callable> c) : v_(std::move(c)) {}        // NOLINT
  Value(std::shared_ptr<IterData> it) : v_(std::move(it)) {}      // NOLINT
  Value(std::shared_ptr<LoopData> l) : v_(std::move(l)) {}        // NOLINT

  static Value Undefined(std::string hint = {}) {
    Value v;
    v.v_ = UndefinedTag{std::move(hint)};
    return v;
  }
  static Value None() {
    Value v;
    v.v_ = NoneTag{};
    return v;
  }
  static Value MakeList(std::vector<Value> items, bool tuple = false);
  static Value MakeDict(DictData d);

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_undefined() const { return kind() == Kind::kUndefined; }
  bool is_none() const { return kind() == Kind::kNone; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_int() const { return kind() == Kind::kInt; }
  bool is_float() const { return kind() == Kind::kFloat; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_list() const { return kind() == Kind::kList; }
  bool is_dict() const { return kind() == Kind::kDict; }
  bool is_namespace() const { return kind() == Kind::kNamespace; }
  bool is_callable() const { return kind() == Kind::kCallable; }
  bool is_iterator() const { return kind() == Kind::kIterator; }
  bool is_loop() const { return kind() == Kind::kLoop; }
  // Python's int includes bool; float arithmetic accepts both.
  bool is_integral() const { return is_int() || is_bool(); }
  bool is_number() const { return is_int() || is_bool() || is_float(); }

  bool as_bool() const { return std::get<bool>(v_); }
  // int or bool as int64.
  int64_t as_int() const { return is_bool() ? (as_bool() ? 1 : 0) : std::get<int64_t>(v_); }
  double as_float() const { return is_float() ? std::get<double>(v_) : static_cast<double>(as_int()); }
  const std::string& str() const { return std::get<std::string>(v_); }
  const std::string& undefined_hint() const { return std::get<UndefinedTag>(v_).hint; }
  const ListData& list() const { return *std::get<std::shared_ptr<const ListData>>(v_); }
  const std::shared_ptr<const ListData>& list_ptr() const { return std::get<std::shared_ptr<const ListData>>(v_); }
  const DictData& dict() const { return *std::get<std::shared_ptr<const DictData>>(v_); }
  NamespaceData* ns() const { return std::get<NamespaceData*>(v_); }
  Callable* callable() const { return std::get<std::shared_ptr<Callable>>(v_).get(); }
  IterData* iter() const { return std::get<std::shared_ptr<IterData>>(v_).get(); }
  LoopData* loop() const { return std::get<std::shared_ptr<LoopData>>(v_).get(); }
  // Identity for `is sameas` on reference types.
  const void* identity() const;

 private:
  std::variant<UndefinedTag, NoneTag, bool, int64_t, double, std::string, std::shared_ptr<const ListData>,
               std::shared_ptr<const DictData>, NamespaceData*, std::shared_ptr<Callable>, std::shared_ptr<IterData>,
               std::shared_ptr<LoopData>>
      v_;
};

// The `loop` variable of a for loop.
struct LoopData {
  std::shared_ptr<const std::vector<Value>> items;
  size_t index0 = 0;
  int64_t depth0 = 0;
  bool has_last_changed = false;
  std::vector<Value> last_changed;
  std::shared_ptr<Callable> recurse;  // set for `recursive` loops: loop(children)
};

// How deeply lists/dicts nest inside `v` (0 for scalars). Printing, comparing and freeing values
// recurse this deep, so the interpreter refuses to build values nested beyond kMaxValueDepth.
uint32_t NestDepth(const Value& v);
inline constexpr uint32_t kMaxValueDepth = 512;

// Python type name as in error messages: 'str', 'int', 'dict', 'NoneType', 'Undefined', ...
std::string TypeName(const Value& v);
// Python bool(v).
bool Truthy(const Value& v);
// Python str(v) (Undefined -> ""), and repr(v).
std::string Str(const Value& v);
std::string Repr(const Value& v);
std::string ReprString(std::string_view s);
std::string FormatFloat(double d);  // Python repr(float)
// Python ==.
bool PyEquals(const Value& a, const Value& b);
// Python <: error for unorderable types.
Result<bool> PyLess(const Value& a, const Value& b);
// Python hash-ability (dict keys, `in dict`).
bool IsHashable(const Value& v);

// Items of an iterable as Python's iter() yields them: list/tuple items, dict keys, string code
// points, generator items (consuming it), nothing for Undefined. Error for non-iterables.
Result<std::vector<Value>> Iterate(const Value& v);
// len(): error for values without a length.
Result<int64_t> Length(const Value& v);

// JSON (nlohmann ordered_json keeps key order, as Python's json.loads does). Error for documents
// nested deeper than kMaxValueDepth.
Result<Value> FromJson(const nlohmann::ordered_json& j);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  bool has_indent = false;
  std::string indent;  // the indent unit when has_indent
  bool has_separators = false;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false;
};
// Python json.dumps(v, ...): TypeError-like error for values JSON cannot represent.
Result<std::string> JsonDumps(const Value& v, const JsonDumpOptions& opt);

}  // namespace qs::jinja
