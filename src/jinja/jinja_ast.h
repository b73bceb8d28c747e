// Syntax tree of a parsed Jinja template (the node set of jinja2.nodes that templates use).
// Immutable after parsing, so one tree can be rendered by many threads at once.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/jinja_lexer.h"
#include "jinja/jinja_value.h"

namespace qs::jinja {

enum class ExprKind : uint8_t {
  kConst,    // value
  kName,     // name
  kNSRef,    // assignment target ns.attr: name, attr
  kGetattr,  // a.attr
  kGetitem,  // a[b]
  kSlice,    // a:b:c inside [], each may be null
  kCall,     // a(items..., kwargs...)
  kFilter,   // a | name(items...), a null for filter blocks
  kTest,     // a is name(items...)
  kList,
  kTuple,
  kDict,  // items = k0, v0, k1, v1, ...
  kNeg,
  kPos,
  kNot,    // a
  kBinOp,  // a op b, op in + - * / // % **
  kAnd,
  kOr,
  kCompare,  // a op0 items[0] op1 items[1] ...
  kConcat,   // items joined with ~
  kCond,     // a if b else c (c may be null)
};

struct Expr {
  ExprKind kind = ExprKind::kConst;
  SrcPos pos;
  Value value;
  std::string name;  // name / attribute / filter / test / operator
  std::string attr;  // kNSRef
  std::unique_ptr<Expr> a, b, c;
  std::vector<std::unique_ptr<Expr>> items;
  std::vector<std::pair<std::string, std::unique_ptr<Expr>>> kwargs;
  std::unique_ptr<Expr> dyn_args, dyn_kwargs;  // *args, **kwargs
  std::vector<std::string> ops;                // kCompare
  int depth = 1;  // height of this subtree; bounded by the parser so evaluation cannot overflow the stack
};
using ExprPtr = std::unique_ptr<Expr>;

enum class StmtKind : uint8_t {
  kText,         // text
  kPrint,        // {{ expr }}
  kIf,           // branches, else_body
  kFor,          // target in expr [if cond] [recursive]: body [else else_body]
  kSet,          // target = expr
  kSetBlock,     // {% set target | filter %}body{% endset %}
  kMacro,        // name(params=defaults): body
  kCallBlock,    // {% call(params) expr %}body{% endcall %}
  kFilterBlock,  // {% filter expr %}body{% endfilter %}
  kWith,         // targets = values: body
  kBreak,
  kContinue,
  kScope,  // body in its own scope (transformers' {% generation %})
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;

struct Stmt {
  StmtKind kind = StmtKind::kText;
  SrcPos pos;
  std::string text;
  ExprPtr expr, target, cond;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  bool recursive = false;
  // Macros and call blocks.
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  bool catch_varargs = false, catch_kwargs = false, caller = false;
  // With.
  std::vector<ExprPtr> targets, values;
};

}  // namespace qs::jinja
