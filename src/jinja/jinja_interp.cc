#include "jinja/jinja_interp.h"

#include <algorithm>
#include <utility>

namespace qs::jinja {
namespace {

// Errors carry the position of the innermost node that failed; outer nodes leave them alone.
Status Located(const Status& st, SrcPos p) {
  if (st.ok() || st.message().rfind("template ", 0) == 0) return st;
  return Status(st.code(), "template error at " + PosString(p) + ": " + st.message());
}

}  // namespace

Value* Interp::Scope::Find(std::string_view name) {
  for (auto& [k, v] : vars)
    if (k == name) return &v;
  return nullptr;
}

void Interp::Scope::Set(const std::string& name, Value v) {
  if (Value* p = Find(name)) {
    *p = std::move(v);
  } else {
    vars.emplace_back(name, std::move(v));
  }
}

// Owns a child scope for the duration of a construct; scopes a macro closed over are kept.
class Interp::ScopeHolder {
 public:
  ScopeHolder(Interp* in, Scope* parent) : in_(in), s_(std::make_unique<Scope>()) { s_->parent = parent; }
  ~ScopeHolder() {
    if (s_->captured) in_->pinned_.push_back(std::move(s_));
  }
  Scope* get() { return s_.get(); }

 private:
  Interp* in_;
  std::unique_ptr<Scope> s_;
};

// `loop(children)` inside a `for ... recursive` loop.
class Interp::LoopRecurse : public Callable {
 public:
  LoopRecurse(const Stmt* st, Scope* s, int64_t depth0) : st_(st), s_(s), depth0_(depth0) {}
  std::string Repr() const override { return "<bound method LoopContext.__call__>"; }
  Result<Value> Call(Interp& in, CallArgs& args) override {
    if (args.pos.size() != 1 || !args.kw.empty()) return InvalidArgument("loop() takes exactly one iterable");
    QS_ASSIGN_OR_RETURN(std::string text, in.RunLoop(*st_, s_, args.pos[0], depth0_ + 1));
    return Value(std::move(text));
  }

 private:
  const Stmt* st_;
  Scope* s_;
  int64_t depth0_;
};

std::string Interp::Macro::Repr() const {
  return "<Macro " + ReprString(def_->kind == StmtKind::kMacro ? def_->name : "caller") + ">";
}

Result<Value> Interp::Macro::Call(Interp& in, CallArgs& args) { return in.InvokeMacro(*def_, closure_, args); }

Interp::Interp(const std::unordered_map<std::string, Value>* vars, const RenderLimits& limits)
    : vars_(vars), limits_(limits) {}
Interp::~Interp() = default;

Result<std::string> Interp::Render(const Body& body) {
  std::string out;
  out_ = &out;
  auto top = std::make_unique<Scope>();
  Scope* s = top.get();
  pinned_.push_back(std::move(top));
  QS_ASSIGN_OR_RETURN(Flow f, ExecBody(body, s));
  (void)f;
  return out;
}

NamespaceData* Interp::NewNamespace() {
  namespaces_.push_back(std::make_unique<NamespaceData>());
  return namespaces_.back().get();
}

Status Interp::CheckSize(size_t bytes) const {
  if (bytes > limits_.max_output_bytes)
    return OutOfRange("string of " + std::to_string(bytes) + " bytes exceeds the render limit of " +
                      std::to_string(limits_.max_output_bytes));
  return Status::Ok();
}

Status Interp::Step() {
  if (++steps_ > limits_.max_steps)
    return OutOfRange("template exceeded its limit of " + std::to_string(limits_.max_steps) + " steps (runaway loop?)");
  return Status::Ok();
}

Status Interp::Append(const std::string& text) {
  QS_RETURN_IF_ERROR(CheckSize(out_->size() + text.size()));
  out_->append(text);
  return Status::Ok();
}

void Interp::Capture(Scope* s) {
  for (Scope* x = s; x && !x->captured; x = x->parent) x->captured = true;
}

Result<Interp::Flow> Interp::ExecBody(const Body& body, Scope* s) {
  for (const auto& st : body) {
    QS_ASSIGN_OR_RETURN(Flow f, Exec(*st, s));
    if (f != Flow::kNormal) return f;
  }
  return Flow::kNormal;
}

Result<std::string> Interp::Capture(const Body& body, Scope* s) {
  ScopeHolder hs(this, s);
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  auto r = ExecBody(body, hs.get());
  out_ = saved;
  if (!r.ok()) return r.status();
  return buf;
}

Result<Interp::Flow> Interp::Exec(const Stmt& st, Scope* s) {
  if (Status step = Step(); !step.ok()) return Located(step, st.pos);
  if (depth_ >= kMaxEvalDepth) return Located(OutOfRange("template nested too deeply at run time"), st.pos);
  ++depth_;
  auto r = ExecImpl(st, s);
  --depth_;
  return r;
}

Result<Interp::Flow> Interp::ExecImpl(const Stmt& st, Scope* s) {
  switch (st.kind) {
    case StmtKind::kText:
      QS_RETURN_IF_ERROR(Located(Append(st.text), st.pos));
      return Flow::kNormal;
    case StmtKind::kPrint: {
      QS_ASSIGN_OR_RETURN(Value v, Eval(*st.expr, s));
      QS_RETURN_IF_ERROR(Located(Append(Str(v)), st.pos));
      return Flow::kNormal;
    }
    case StmtKind::kIf:
      for (const auto& [test, body] : st.branches) {
        QS_ASSIGN_OR_RETURN(Value t, Eval(*test, s));
        if (Truthy(t)) return ExecBody(body, s);
      }
      return ExecBody(st.else_body, s);
    case StmtKind::kFor: {
      QS_ASSIGN_OR_RETURN(Value iterable, Eval(*st.expr, s));
      return ExecFor(st, s, iterable, 0);
    }
    case StmtKind::kSet: {
      QS_ASSIGN_OR_RETURN(Value v, Eval(*st.expr, s));
      QS_RETURN_IF_ERROR(Located(Assign(*st.target, v, s), st.pos));
      return Flow::kNormal;
    }
    case StmtKind::kSetBlock: {
      QS_ASSIGN_OR_RETURN(std::string text, Capture(st.body, s));
      Value v(std::move(text));
      if (st.expr) {
        QS_ASSIGN_OR_RETURN(v, EvalFilterChain(*st.expr, s, &v));
      }
      QS_RETURN_IF_ERROR(Located(Assign(*st.target, v, s), st.pos));
      return Flow::kNormal;
    }
    case StmtKind::kMacro:
      Capture(s);
      s->Set(st.name, Value(std::shared_ptr<Callable>(std::make_shared<Macro>(&st, s))));
      return Flow::kNormal;
    case StmtKind::kCallBlock: {
      Capture(s);
      const Expr& call = *st.expr;
      QS_ASSIGN_OR_RETURN(Value fn, Eval(*call.a, s));
      QS_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(call, s));
      args.kw.emplace_back("caller", Value(std::shared_ptr<Callable>(std::make_shared<Macro>(&st, s))));
      auto r = CallValue(fn, args);
      if (!r.ok()) return Located(r.status(), call.pos);
      QS_RETURN_IF_ERROR(Located(Append(Str(r.value())), st.pos));
      return Flow::kNormal;
    }
    case StmtKind::kFilterBlock: {
      QS_ASSIGN_OR_RETURN(std::string text, Capture(st.body, s));
      Value v(std::move(text));
      QS_ASSIGN_OR_RETURN(v, EvalFilterChain(*st.expr, s, &v));
      QS_RETURN_IF_ERROR(Located(Append(Str(v)), st.pos));
      return Flow::kNormal;
    }
    case StmtKind::kWith: {
      ScopeHolder hs(this, s);
      for (size_t i = 0; i < st.targets.size(); ++i) {
        QS_ASSIGN_OR_RETURN(Value v, Eval(*st.values[i], s));
        QS_RETURN_IF_ERROR(Located(Assign(*st.targets[i], v, hs.get()), st.pos));
      }
      return ExecBody(st.body, hs.get());
    }
    case StmtKind::kScope: {
      ScopeHolder hs(this, s);
      return ExecBody(st.body, hs.get());
    }
    case StmtKind::kBreak:
      return Flow::kBreak;
    case StmtKind::kContinue:
      return Flow::kContinue;
  }
  return Flow::kNormal;
}

Result<Interp::Flow> Interp::ExecFor(const Stmt& st, Scope* s, const Value& iterable, int64_t depth0) {
  auto items_r = Iterate(iterable);
  if (!items_r.ok()) return Located(items_r.status(), st.expr->pos);
  std::vector<Value> items = std::move(items_r).value();
  if (st.cond) {
    // `for x in xs if cond`: loop.length etc. count the kept items only.
    std::vector<Value> kept;
    for (auto& item : items) {
      QS_RETURN_IF_ERROR(Located(Step(), st.pos));
      ScopeHolder hs(this, s);
      QS_RETURN_IF_ERROR(Located(Assign(*st.target, item, hs.get()), st.pos));
      QS_ASSIGN_OR_RETURN(Value c, Eval(*st.cond, hs.get()));
      if (Truthy(c)) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return ExecBody(st.else_body, s);
  auto loop = std::make_shared<LoopData>();
  loop->items = std::make_shared<const std::vector<Value>>(std::move(items));
  loop->depth0 = depth0;
  if (st.recursive) {
    Capture(s);
    loop->recurse = std::make_shared<LoopRecurse>(&st, s, depth0);
  }
  Value loop_value(loop);
  for (size_t i = 0; i < loop->items->size(); ++i) {
    QS_RETURN_IF_ERROR(Located(Step(), st.pos));
    loop->index0 = i;
    ScopeHolder hs(this, s);
    QS_RETURN_IF_ERROR(Located(Assign(*st.target, (*loop->items)[i], hs.get()), st.pos));
    hs.get()->Set("loop", loop_value);
    QS_ASSIGN_OR_RETURN(Flow f, ExecBody(st.body, hs.get()));
    if (f == Flow::kBreak) break;
  }
  return Flow::kNormal;
}

Result<std::string> Interp::RunLoop(const Stmt& st, Scope* s, const Value& iterable, int64_t depth0) {
  if (call_depth_ >= limits_.max_call_depth)
    return OutOfRange("recursion deeper than " + std::to_string(limits_.max_call_depth) + " calls");
  ++call_depth_;
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  auto r = ExecFor(st, s, iterable, depth0);
  out_ = saved;
  --call_depth_;
  if (!r.ok()) return r.status();
  return buf;
}

Status Interp::Assign(const Expr& target, const Value& v, Scope* s) {
  // Values can only grow deeper across statements through assignments, so bounding them here
  // bounds the recursion of printing, comparing and freeing them.
  if (NestDepth(v) > kMaxValueDepth) return InvalidArgument("value nested too deeply");
  switch (target.kind) {
    case ExprKind::kName:
      s->Set(target.name, v);
      return Status::Ok();
    case ExprKind::kTuple: {
      QS_ASSIGN_OR_RETURN(std::vector<Value> parts, Iterate(v));
      size_t n = target.items.size();
      if (parts.size() > n) return InvalidArgument("too many values to unpack (expected " + std::to_string(n) + ")");
      if (parts.size() < n)
        return InvalidArgument("not enough values to unpack (expected " + std::to_string(n) + ", got " +
                               std::to_string(parts.size()) + ")");
      for (size_t i = 0; i < n; ++i) QS_RETURN_IF_ERROR(Assign(*target.items[i], parts[i], s));
      return Status::Ok();
    }
    case ExprKind::kNSRef: {
      Value ns = Lookup(target.name, s);
      if (!ns.is_namespace()) return InvalidArgument("cannot assign attribute on non-namespace object");
      ns.ns()->Set(target.attr, v);
      return Status::Ok();
    }
    default:
      return InvalidArgument("cannot assign to this expression");
  }
}

Result<Value> Interp::InvokeMacro(const Stmt& def, Scope* closure, CallArgs& args) {
  const std::string name = def.kind == StmtKind::kMacro ? def.name : "caller";
  if (call_depth_ >= limits_.max_call_depth)
    return OutOfRange("recursion deeper than " + std::to_string(limits_.max_call_depth) + " calls (macro '" + name +
                      "')");
  QS_RETURN_IF_ERROR(Step());
  ScopeHolder hs(this, closure);
  Scope* ms = hs.get();
  const size_t n = def.params.size();
  auto kw = args.kw;
  bool found_caller = false;
  for (size_t i = 0; i < n; ++i) {
    const std::string& p = def.params[i];
    if (i < args.pos.size()) {
      ms->Set(p, args.pos[i]);
      continue;
    }
    if (p == "caller") found_caller = true;
    auto it = std::find_if(kw.begin(), kw.end(), [&](const auto& e) { return e.first == p; });
    if (it != kw.end()) {
      ms->Set(p, it->second);
      kw.erase(it);
      continue;
    }
    size_t first_default = n - def.defaults.size();
    if (i >= first_default) {
      // Defaults are evaluated in the macro's scope, after the parameters before them.
      QS_ASSIGN_OR_RETURN(Value d, Eval(*def.defaults[i - first_default], ms));
      ms->Set(p, d);
    } else {
      ms->Set(p, Value::Undefined("parameter '" + p + "' was not provided"));
    }
  }
  if (def.caller && !found_caller) {
    auto it = std::find_if(kw.begin(), kw.end(), [](const auto& e) { return e.first == "caller"; });
    if (it != kw.end()) {
      ms->Set("caller", it->second);
      kw.erase(it);
    } else {
      ms->Set("caller", Value::Undefined("No caller defined"));
    }
  }
  if (def.catch_kwargs) {
    DictData d;
    for (auto& [k, v] : kw) d.Set(Value(k), v);
    ms->Set("kwargs", Value::MakeDict(std::move(d)));
  } else if (!kw.empty()) {
    for (const auto& e : kw)
      if (e.first == "caller")
        return InvalidArgument("macro '" + name + "' was invoked with two values for the special caller argument");
    return InvalidArgument("macro '" + name + "' takes no keyword argument '" + kw[0].first + "'");
  }
  if (def.catch_varargs) {
    std::vector<Value> rest;
    for (size_t i = n; i < args.pos.size(); ++i) rest.push_back(args.pos[i]);
    ms->Set("varargs", Value::MakeList(std::move(rest), true));
  } else if (args.pos.size() > n) {
    return InvalidArgument("macro '" + name + "' takes not more than " + std::to_string(n) + " argument(s)");
  }
  ++call_depth_;
  std::string buf;
  std::string* saved = out_;
  out_ = &buf;
  auto r = ExecBody(def.body, ms);
  out_ = saved;
  --call_depth_;
  if (!r.ok()) return r.status();
  return Value(std::move(buf));
}

Result<Value> Interp::CallValue(const Value& fn, CallArgs& args) {
  if (fn.is_callable()) return fn.callable()->Call(*this, args);
  if (fn.is_loop() && fn.loop()->recurse) return fn.loop()->recurse->Call(*this, args);
  if (fn.is_undefined()) return UndefinedError(fn);
  return InvalidArgument("'" + TypeName(fn) + "' object is not callable");
}

Result<Value> Interp::CallFilter(const std::string& name, const Value& subject, CallArgs& args) {
  return CallFilterFn(*this, name, subject, args);
}

Result<bool> Interp::CallTest(const std::string& name, const Value& subject, CallArgs& args) {
  return CallTestFn(*this, name, subject, args);
}

Value Interp::Lookup(const std::string& name, Scope* s) {
  for (Scope* x = s; x; x = x->parent)
    if (Value* v = x->Find(name)) return *v;
  if (vars_) {
    auto it = vars_->find(name);
    if (it != vars_->end()) return it->second;
  }
  Value g;
  if (LookupGlobal(name, &g)) return g;
  return Value::Undefined("'" + name + "' is undefined");
}

Result<CallArgs> Interp::EvalArgs(const Expr& e, Scope* s) {
  CallArgs args;
  for (const auto& a : e.items) {
    QS_ASSIGN_OR_RETURN(Value v, Eval(*a, s));
    args.pos.push_back(std::move(v));
  }
  for (const auto& [k, a] : e.kwargs) {
    QS_ASSIGN_OR_RETURN(Value v, Eval(*a, s));
    args.kw.emplace_back(k, std::move(v));
  }
  if (e.dyn_args) {
    QS_ASSIGN_OR_RETURN(Value v, Eval(*e.dyn_args, s));
    QS_ASSIGN_OR_RETURN(std::vector<Value> more, Iterate(v));
    for (auto& x : more) args.pos.push_back(std::move(x));
  }
  if (e.dyn_kwargs) {
    QS_ASSIGN_OR_RETURN(Value v, Eval(*e.dyn_kwargs, s));
    if (!v.is_dict()) return InvalidArgument("argument after ** must be a mapping, not " + TypeName(v));
    for (const auto& [k, x] : v.dict().entries) {
      if (!k.is_string()) return InvalidArgument("keywords must be strings");
      args.kw.emplace_back(k.str(), x);
    }
  }
  return args;
}

Result<Value> Interp::EvalFilterChain(const Expr& e, Scope* s, const Value* subject) {
  Value base;
  if (!e.a) {
    base = *subject;
  } else if (subject && e.a->kind == ExprKind::kFilter) {
    QS_ASSIGN_OR_RETURN(base, EvalFilterChain(*e.a, s, subject));
  } else {
    QS_ASSIGN_OR_RETURN(base, Eval(*e.a, s));
  }
  QS_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, s));
  auto r = CallFilter(e.name, base, args);
  if (!r.ok()) return Located(r.status(), e.pos);
  return r;
}

Result<Value> Interp::Eval(const Expr& e, Scope* s) {
  if (depth_ >= kMaxEvalDepth) return Located(OutOfRange("template nested too deeply at run time"), e.pos);
  ++depth_;
  auto r = EvalImpl(e, s);
  --depth_;
  if (!r.ok()) return Located(r.status(), e.pos);
  return r;
}

Result<Value> Interp::EvalImpl(const Expr& e, Scope* s) {
  switch (e.kind) {
    case ExprKind::kConst:
      return e.value;
    case ExprKind::kName:
      return Lookup(e.name, s);
    case ExprKind::kGetattr: {
      QS_ASSIGN_OR_RETURN(Value obj, Eval(*e.a, s));
      return GetAttr(obj, e.name);
    }
    case ExprKind::kGetitem: {
      QS_ASSIGN_OR_RETURN(Value obj, Eval(*e.a, s));
      if (e.b->kind == ExprKind::kSlice) {
        Value parts[3] = {Value::None(), Value::None(), Value::None()};
        const Expr* ex[3] = {e.b->a.get(), e.b->b.get(), e.b->c.get()};
        for (int i = 0; i < 3; ++i) {
          if (!ex[i]) continue;
          QS_ASSIGN_OR_RETURN(parts[i], Eval(*ex[i], s));
        }
        if (obj.is_undefined()) return UndefinedError(obj);
        return SliceValue(obj, parts[0], parts[1], parts[2]);
      }
      QS_ASSIGN_OR_RETURN(Value key, Eval(*e.b, s));
      return GetItem(obj, key);
    }
    case ExprKind::kSlice:
      return InvalidArgument("slice outside of a subscript");
    case ExprKind::kCall: {
      QS_ASSIGN_OR_RETURN(Value fn, Eval(*e.a, s));
      QS_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, s));
      return CallValue(fn, args);
    }
    case ExprKind::kFilter:
      return EvalFilterChain(e, s, nullptr);
    case ExprKind::kTest: {
      QS_ASSIGN_OR_RETURN(Value subject, Eval(*e.a, s));
      QS_ASSIGN_OR_RETURN(CallArgs args, EvalArgs(e, s));
      QS_ASSIGN_OR_RETURN(bool b, CallTest(e.name, subject, args));
      return Value(b);
    }
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      for (const auto& x : e.items) {
        QS_ASSIGN_OR_RETURN(Value v, Eval(*x, s));
        items.push_back(std::move(v));
      }
      return Value::MakeList(std::move(items), e.kind == ExprKind::kTuple);
    }
    case ExprKind::kDict: {
      DictData d;
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        QS_ASSIGN_OR_RETURN(Value k, Eval(*e.items[i], s));
        QS_ASSIGN_OR_RETURN(Value v, Eval(*e.items[i + 1], s));
        if (!IsHashable(k)) return InvalidArgument("unhashable type: '" + TypeName(k) + "'");
        d.Set(std::move(k), std::move(v));
      }
      return Value::MakeDict(std::move(d));
    }
    case ExprKind::kNeg: {
      QS_ASSIGN_OR_RETURN(Value v, Eval(*e.a, s));
      return UnaryMinus(v);
    }
    case ExprKind::kPos: {
      QS_ASSIGN_OR_RETURN(Value v, Eval(*e.a, s));
      if (v.is_undefined()) return UndefinedError(v);
      if (v.is_bool()) return Value(v.as_int());
      if (!v.is_number()) return InvalidArgument("bad operand type for unary +: '" + TypeName(v) + "'");
      return v;
    }
    case ExprKind::kNot: {
      QS_ASSIGN_OR_RETURN(Value v, Eval(*e.a, s));
      return Value(!Truthy(v));
    }
    case ExprKind::kBinOp: {
      QS_ASSIGN_OR_RETURN(Value a, Eval(*e.a, s));
      QS_ASSIGN_OR_RETURN(Value b, Eval(*e.b, s));
      return BinaryOp(e.name, a, b, limits_);
    }
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      QS_ASSIGN_OR_RETURN(Value a, Eval(*e.a, s));
      if (Truthy(a) == (e.kind == ExprKind::kOr)) return a;
      return Eval(*e.b, s);
    }
    case ExprKind::kCompare: {
      QS_ASSIGN_OR_RETURN(Value left, Eval(*e.a, s));
      for (size_t i = 0; i < e.ops.size(); ++i) {
        QS_ASSIGN_OR_RETURN(Value right, Eval(*e.items[i], s));
        const std::string& op = e.ops[i];
        bool r;
        if (op == "==" || op == "!=") {
          r = PyEquals(left, right) == (op == "==");
        } else if (op == "in" || op == "notin") {
          QS_ASSIGN_OR_RETURN(bool c, Contains(right, left));
          r = c == (op == "in");
        } else {
          if (left.is_undefined()) return UndefinedError(left);
          if (right.is_undefined()) return UndefinedError(right);
          if (op == "<") {
            QS_ASSIGN_OR_RETURN(r, PyLess(left, right));
          } else if (op == ">") {
            QS_ASSIGN_OR_RETURN(r, PyLess(right, left));
          } else {
            // a <= b is not (b < a) only for NaN; CPython compares directly, so do we.
            QS_ASSIGN_OR_RETURN(bool lt, op == "<=" ? PyLess(left, right) : PyLess(right, left));
            r = lt || PyEquals(left, right);
          }
        }
        if (!r) return Value(false);
        left = std::move(right);
      }
      return Value(true);
    }
    case ExprKind::kConcat: {
      std::string out;
      for (const auto& x : e.items) {
        QS_ASSIGN_OR_RETURN(Value v, Eval(*x, s));
        out += Str(v);
        QS_RETURN_IF_ERROR(CheckSize(out.size()));
      }
      return Value(std::move(out));
    }
    case ExprKind::kCond: {
      QS_ASSIGN_OR_RETURN(Value t, Eval(*e.b, s));
      if (Truthy(t)) return Eval(*e.a, s);
      if (e.c) return Eval(*e.c, s);
      return Value::Undefined("the inline if-expression evaluated to false and no else section was defined");
    }
    case ExprKind::kNSRef:
      return InvalidArgument("namespace reference outside of an assignment");
  }
  return InvalidArgument("unknown expression");
}

}  // namespace qs::jinja
