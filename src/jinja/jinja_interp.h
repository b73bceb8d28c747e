// Tree-walking interpreter for parsed Jinja templates with jinja2's runtime semantics as
// transformers configures it (ImmutableSandboxedEnvironment, lenient Undefined, loopcontrols).
//
// Scoping follows jinja2's compiled code: `if` opens no scope; every for-loop iteration, macro
// call, `with` and block-`set` body gets a fresh scope whose assignments vanish at its end, while
// namespace() objects stay mutable across scopes (which is why templates use them). Macros close
// over the scope they are defined in and see its variables as they are at call time.
//
// One Interp renders one template once; it owns everything the render creates.
#pragma once

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "jinja/jinja_ast.h"
#include "jinja/jinja_value.h"

namespace qs::jinja {

// Bounds that turn runaway templates into errors instead of hangs or exhausted memory.
struct RenderLimits {
  size_t max_output_bytes = size_t{64} << 20;  // also bounds every string a template builds
  int64_t max_steps = 100'000'000;             // statements + loop iterations + calls (~1 minute)
  int max_call_depth = 100;                    // nested macro / recursive-loop calls
};

class Interp {
 public:
  Interp(const std::unordered_map<std::string, Value>* vars, const RenderLimits& limits);
  ~Interp();
  Result<std::string> Render(const Body& body);

  // ---- used by filters, tests and methods ----
  Result<Value> CallValue(const Value& fn, CallArgs& args);
  // jinja2's sandboxed environment.getattr (obj.name) and getitem (obj[key]).
  Result<Value> GetAttr(const Value& obj, const std::string& name);
  Result<Value> GetItem(const Value& obj, const Value& key);
  Result<Value> CallFilter(const std::string& name, const Value& subject, CallArgs& args);
  Result<bool> CallTest(const std::string& name, const Value& subject, CallArgs& args);
  NamespaceData* NewNamespace();
  // Fails once a string a template builds would pass the output limit.
  Status CheckSize(size_t bytes) const;
  Status Step();
  const RenderLimits& limits() const { return limits_; }

  struct Scope {
    Scope* parent = nullptr;
    std::vector<std::pair<std::string, Value>> vars;
    bool captured = false;  // a macro closes over it: keep it until the render ends
    Value* Find(std::string_view name);
    void Set(const std::string& name, Value v);
  };

  // A macro (or the body of a call block, passed to the macro as `caller`).
  class Macro : public Callable {
   public:
    Macro(const Stmt* def, Scope* closure) : def_(def), closure_(closure) {}
    std::string Repr() const override;
    Result<Value> Call(Interp& in, CallArgs& args) override;

   private:
    const Stmt* def_;
    Scope* closure_;
  };

 private:
  enum class Flow { kNormal, kBreak, kContinue };
  class ScopeHolder;
  class LoopRecurse;

  Result<Flow> ExecBody(const Body& body, Scope* s);
  Result<Flow> Exec(const Stmt& st, Scope* s);
  Result<Flow> ExecImpl(const Stmt& st, Scope* s);
  Result<Flow> ExecFor(const Stmt& st, Scope* s, const Value& iterable, int64_t depth0);
  Status Assign(const Expr& target, const Value& v, Scope* s);
  // Runs `body` in a child scope of `s` with its output captured.
  Result<std::string> Capture(const Body& body, Scope* s);
  Result<std::string> RunLoop(const Stmt& st, Scope* s, const Value& iterable, int64_t depth0);
  Result<Value> InvokeMacro(const Stmt& def, Scope* closure, CallArgs& args);
  Status Append(const std::string& text);

  Result<Value> Eval(const Expr& e, Scope* s);
  Result<Value> EvalImpl(const Expr& e, Scope* s);
  Result<CallArgs> EvalArgs(const Expr& e, Scope* s);
  // `subject` is the value a filter block / block set feeds into the innermost filter.
  Result<Value> EvalFilterChain(const Expr& e, Scope* s, const Value* subject);
  Value Lookup(const std::string& name, Scope* s);
  void Capture(Scope* s);

  const std::unordered_map<std::string, Value>* vars_;
  RenderLimits limits_;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int call_depth_ = 0;
  // Nesting of Eval/Exec frames, bounded so deep macro recursion cannot overflow the C++ stack.
  static constexpr int kMaxEvalDepth = 2000;
  int depth_ = 0;
  std::vector<std::unique_ptr<Scope>> pinned_;
  std::vector<std::unique_ptr<NamespaceData>> namespaces_;
};

// ---- operators and lookups shared by the interpreter and the builtins (jinja_ops.cc) ----
Result<Value> BinaryOp(const std::string& op, const Value& a, const Value& b, const RenderLimits& lim);
Result<Value> UnaryMinus(const Value& a);
// Python `needle in hay`.
Result<bool> Contains(const Value& hay, const Value& needle);
// Python slicing; start/stop/step are None or integers.
Result<Value> SliceValue(const Value& obj, const Value& start, const Value& stop, const Value& step);
// The error an operation on an Undefined raises.
Status UndefinedError(const Value& u);
// Python printf-style formatting: fmt % args.
Result<std::string> PercentFormat(const std::string& fmt, const Value& args);

// ---- builtins (jinja_filters.cc, jinja_methods.cc) ----
Result<Value> CallFilterFn(Interp& in, const std::string& name, const Value& subject, CallArgs& args);
Result<bool> CallTestFn(Interp& in, const std::string& name, const Value& subject, CallArgs& args);
// Environment globals: range, dict, namespace, joiner, cycler, raise_exception, strftime_now.
bool LookupGlobal(const std::string& name, Value* out);
// Python methods of str / dict / list (obj.name(...)); null if `name` is no such method.
std::shared_ptr<Callable> FindMethod(const Value& obj, const std::string& name, bool* unsafe);
// Attributes of the loop object.
Result<Value> LoopAttr(const Value& loop, const std::string& name);

// Binds call arguments to a Python-style signature: result[i] is the argument for names[i] or
// nullopt when not given; errors name `fn` like Python's TypeErrors do.
Result<std::vector<std::optional<Value>>> BindArgs(const CallArgs& args, const char* fn,
                                                   std::initializer_list<const char*> names, size_t required);

}  // namespace qs::jinja
