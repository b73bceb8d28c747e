// Expression parsing with jinja2's precedence: inline if < or < and < not < comparisons < + - < ~ <
// * / // % < ** < unary - + < postfix (.attr [key] call), filters and tests.
#include "jinja/jinja_parser_impl.h"

namespace qs::jinja::internal {

// Records the height of a new node and rejects trees deeper than the limit. Loops like
// a+b+c+... or x|f|g|... build deep trees without recursing in the parser, so the height
// is what bounds the recursion of later passes (checks, evaluation, destruction).
Status Parser::Seal(Expr* e) const {
  int d = 0;
  for (const Expr* x : {e->a.get(), e->b.get(), e->c.get(), e->dyn_args.get(), e->dyn_kwargs.get()})
    if (x) d = std::max(d, x->depth);
  for (const auto& x : e->items) d = std::max(d, x->depth);
  for (const auto& kv : e->kwargs) d = std::max(d, kv.second->depth);
  e->depth = d + 1;
  if (e->depth > kMaxParseDepth) return FailAt(e->pos, "template nested too deeply");
  return Status::Ok();
}

bool Parser::IsTupleEnd(std::initializer_list<const char*> extra) const {
  if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || IsOp(")")) return true;
  for (const char* e : extra)
    if (IsName(e)) return true;
  return false;
}

Result<ExprPtr> Parser::ParseTuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra,
                                   bool explicit_parens) {
  SrcPos pos = cur().pos;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) QS_RETURN_IF_ERROR(ExpectOp(","));
    if (IsTupleEnd(extra)) break;
    ExprPtr e;
    if (simplified) {
      QS_ASSIGN_OR_RETURN(e, ParsePrimary());
    } else {
      QS_ASSIGN_OR_RETURN(e, ParseExpression(with_condexpr));
    }
    args.push_back(std::move(e));
    if (IsOp(",")) {
      is_tuple = true;
    } else {
      break;
    }
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parens) return Fail("Expected an expression, got " + Q(Describe(cur())));
  }
  auto t = NewExpr(ExprKind::kTuple, pos);
  t->items = std::move(args);
  QS_RETURN_IF_ERROR(Seal(t.get()));
  return t;
}

Result<ExprPtr> Parser::ParseExpression(bool with_condexpr) {
  DepthGuard dg(this);
  QS_RETURN_IF_ERROR(CheckDepth());
  return with_condexpr ? ParseCondExpr() : ParseOr();
}

Result<ExprPtr> Parser::ParseCondExpr() {
  SrcPos pos = cur().pos;
  QS_ASSIGN_OR_RETURN(ExprPtr expr1, ParseOr());
  while (SkipName("if")) {
    FrameGuard fg(this, in_loop_);
    auto c = NewExpr(ExprKind::kCond, pos);
    c->a = std::move(expr1);
    QS_ASSIGN_OR_RETURN(c->b, ParseOr());
    if (SkipName("else")) {
      DepthGuard dg(this);
      QS_RETURN_IF_ERROR(CheckDepth());
      QS_ASSIGN_OR_RETURN(c->c, ParseCondExpr());
    }
    QS_RETURN_IF_ERROR(Seal(c.get()));
    expr1 = std::move(c);
    pos = cur().pos;
  }
  return expr1;
}

Result<ExprPtr> Parser::ParseOr() {
  QS_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
  while (IsName("or")) {
    auto e = NewExpr(ExprKind::kOr, cur().pos);
    Next();
    e->a = std::move(left);
    QS_ASSIGN_OR_RETURN(e->b, ParseAnd());
    QS_RETURN_IF_ERROR(Seal(e.get()));
    left = std::move(e);
  }
  return left;
}

Result<ExprPtr> Parser::ParseAnd() {
  QS_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
  while (IsName("and")) {
    auto e = NewExpr(ExprKind::kAnd, cur().pos);
    Next();
    e->a = std::move(left);
    QS_ASSIGN_OR_RETURN(e->b, ParseNot());
    QS_RETURN_IF_ERROR(Seal(e.get()));
    left = std::move(e);
  }
  return left;
}

Result<ExprPtr> Parser::ParseNot() {
  if (IsName("not")) {
    auto e = NewExpr(ExprKind::kNot, cur().pos);
    Next();
    DepthGuard dg(this);
    QS_RETURN_IF_ERROR(CheckDepth());
    QS_ASSIGN_OR_RETURN(e->a, ParseNot());
    QS_RETURN_IF_ERROR(Seal(e.get()));
    return e;
  }
  return ParseCompare();
}

Result<ExprPtr> Parser::ParseCompare() {
  SrcPos pos = cur().pos;
  QS_ASSIGN_OR_RETURN(ExprPtr expr, ParseMath1());
  ExprPtr cmp;
  while (true) {
    std::string op;
    if (cur().type == Tok::kOp && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                   cur().text == "<=" || cur().text == ">" || cur().text == ">=")) {
      op = cur().text;
      Next();
    } else if (IsName("in")) {
      op = "in";
      Next();
    } else if (IsName("not") && look().type == Tok::kName && look().text == "in") {
      op = "notin";
      Next();
      Next();
    } else {
      break;
    }
    if (!cmp) {
      cmp = NewExpr(ExprKind::kCompare, pos);
      cmp->a = std::move(expr);
    }
    QS_ASSIGN_OR_RETURN(ExprPtr rhs, ParseMath1());
    cmp->ops.push_back(op);
    cmp->items.push_back(std::move(rhs));
    QS_RETURN_IF_ERROR(Seal(cmp.get()));
  }
  return cmp ? std::move(cmp) : std::move(expr);
}

Result<ExprPtr> Parser::ParseMath1() {
  QS_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
  while (IsOp("+") || IsOp("-")) {
    auto e = NewExpr(ExprKind::kBinOp, cur().pos);
    e->name = cur().text;
    Next();
    e->a = std::move(left);
    QS_ASSIGN_OR_RETURN(e->b, ParseConcat());
    QS_RETURN_IF_ERROR(Seal(e.get()));
    left = std::move(e);
  }
  return left;
}

Result<ExprPtr> Parser::ParseConcat() {
  SrcPos pos = cur().pos;
  QS_ASSIGN_OR_RETURN(ExprPtr first, ParseMath2());
  if (!IsOp("~")) return first;
  auto e = NewExpr(ExprKind::kConcat, pos);
  e->items.push_back(std::move(first));
  while (SkipOp("~")) {
    QS_ASSIGN_OR_RETURN(ExprPtr x, ParseMath2());
    e->items.push_back(std::move(x));
  }
  QS_RETURN_IF_ERROR(Seal(e.get()));
  return e;
}

Result<ExprPtr> Parser::ParseMath2() {
  QS_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
  while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
    auto e = NewExpr(ExprKind::kBinOp, cur().pos);
    e->name = cur().text;
    Next();
    e->a = std::move(left);
    QS_ASSIGN_OR_RETURN(e->b, ParsePow());
    QS_RETURN_IF_ERROR(Seal(e.get()));
    left = std::move(e);
  }
  return left;
}

Result<ExprPtr> Parser::ParsePow() {
  QS_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
  while (IsOp("**")) {
    auto e = NewExpr(ExprKind::kBinOp, cur().pos);
    e->name = "**";
    Next();
    e->a = std::move(left);
    QS_ASSIGN_OR_RETURN(e->b, ParseUnary(true));
    QS_RETURN_IF_ERROR(Seal(e.get()));
    left = std::move(e);
  }
  return left;
}

Result<ExprPtr> Parser::ParseUnary(bool with_filter) {
  DepthGuard dg(this);
  QS_RETURN_IF_ERROR(CheckDepth());
  ExprPtr node;
  if (IsOp("-") || IsOp("+")) {
    node = NewExpr(IsOp("-") ? ExprKind::kNeg : ExprKind::kPos, cur().pos);
    Next();
    QS_ASSIGN_OR_RETURN(node->a, ParseUnary(false));
    QS_RETURN_IF_ERROR(Seal(node.get()));
  } else {
    QS_ASSIGN_OR_RETURN(node, ParsePrimary());
  }
  QS_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
  if (with_filter) {
    QS_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
  }
  return node;
}

Result<ExprPtr> Parser::ParsePrimary() {
  const Token& tok = cur();
  ExprPtr node;
  if (tok.type == Tok::kName) {
    const std::string& n = tok.text;
    node = NewExpr(ExprKind::kConst, tok.pos);
    if (n == "true" || n == "True" || n == "false" || n == "False") {
      node->value = Value(n == "true" || n == "True");
    } else if (n == "none" || n == "None") {
      node->value = Value::None();
    } else {
      node->kind = ExprKind::kName;
      node->name = n;
      for (auto& used : used_names_) used.insert(n);
    }
    Next();
  } else if (tok.type == Tok::kString) {
    node = NewExpr(ExprKind::kConst, tok.pos);
    std::string s;
    while (cur().type == Tok::kString) {
      s += cur().text;
      Next();
    }
    node->value = Value(std::move(s));
  } else if (tok.type == Tok::kInt || tok.type == Tok::kFloat) {
    node = NewExpr(ExprKind::kConst, tok.pos);
    node->value = tok.type == Tok::kInt ? Value(tok.ival) : Value(tok.fval);
    Next();
  } else if (IsOp("(")) {
    Next();
    QS_ASSIGN_OR_RETURN(node, ParseTuple(false, true, {}, true));
    QS_RETURN_IF_ERROR(ExpectOp(")"));
  } else if (IsOp("[")) {
    node = NewExpr(ExprKind::kList, tok.pos);
    Next();
    while (!IsOp("]")) {
      if (!node->items.empty()) QS_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp("]")) break;
      QS_ASSIGN_OR_RETURN(ExprPtr x, ParseExpression(true));
      node->items.push_back(std::move(x));
    }
    QS_RETURN_IF_ERROR(ExpectOp("]"));
    QS_RETURN_IF_ERROR(Seal(node.get()));
  } else if (IsOp("{")) {
    node = NewExpr(ExprKind::kDict, tok.pos);
    Next();
    while (!IsOp("}")) {
      if (!node->items.empty()) QS_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp("}")) break;
      QS_ASSIGN_OR_RETURN(ExprPtr k, ParseExpression(true));
      QS_RETURN_IF_ERROR(ExpectOp(":"));
      QS_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
      node->items.push_back(std::move(k));
      node->items.push_back(std::move(v));
    }
    QS_RETURN_IF_ERROR(ExpectOp("}"));
    QS_RETURN_IF_ERROR(Seal(node.get()));
  } else {
    if (tok.type == Tok::kEof) return Fail("unexpected end of template");
    return Fail("unexpected " + Q(Describe(tok)));
  }
  return node;
}

Result<ExprPtr> Parser::ParsePostfix(ExprPtr node) {
  while (true) {
    if (IsOp(".") || IsOp("[")) {
      QS_ASSIGN_OR_RETURN(node, ParseSubscript(std::move(node)));
    } else if (IsOp("(")) {
      QS_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::ParseFilterExpr(ExprPtr node) {
  while (true) {
    if (IsOp("|")) {
      QS_ASSIGN_OR_RETURN(node, ParseFilter(std::move(node), false));
    } else if (IsName("is")) {
      QS_ASSIGN_OR_RETURN(node, ParseTest(std::move(node)));
    } else if (IsOp("(")) {
      QS_ASSIGN_OR_RETURN(node, ParseCall(std::move(node)));
    } else {
      return node;
    }
  }
}

Result<ExprPtr> Parser::ParseSubscript(ExprPtr node) {
  SrcPos pos = cur().pos;
  if (SkipOp(".")) {
    const Token& at = cur();
    if (at.type == Tok::kName) {
      auto e = NewExpr(ExprKind::kGetattr, pos);
      e->a = std::move(node);
      e->name = at.text;
      Next();
      QS_RETURN_IF_ERROR(Seal(e.get()));
      return e;
    }
    if (at.type != Tok::kInt) return Fail("expected name or number");
    auto e = NewExpr(ExprKind::kGetitem, pos);
    e->a = std::move(node);
    e->b = NewExpr(ExprKind::kConst, at.pos);
    e->b->value = Value(at.ival);
    Next();
    QS_RETURN_IF_ERROR(Seal(e.get()));
    return e;
  }
  Next();  // [
  std::vector<ExprPtr> args;
  while (!IsOp("]")) {
    if (!args.empty()) QS_RETURN_IF_ERROR(ExpectOp(","));
    QS_ASSIGN_OR_RETURN(ExprPtr a, ParseSubscribed());
    args.push_back(std::move(a));
  }
  QS_RETURN_IF_ERROR(ExpectOp("]"));
  auto e = NewExpr(ExprKind::kGetitem, pos);
  e->a = std::move(node);
  if (args.size() == 1) {
    e->b = std::move(args[0]);
  } else {
    e->b = NewExpr(ExprKind::kTuple, pos);
    e->b->items = std::move(args);
    QS_RETURN_IF_ERROR(Seal(e->b.get()));
  }
  QS_RETURN_IF_ERROR(Seal(e.get()));
  return e;
}

Result<ExprPtr> Parser::ParseSubscribed() {
  SrcPos pos = cur().pos;
  auto sl = NewExpr(ExprKind::kSlice, pos);
  if (!SkipOp(":")) {
    QS_ASSIGN_OR_RETURN(ExprPtr node, ParseExpression(true));
    if (!SkipOp(":")) return node;
    sl->a = std::move(node);
  }
  if (!IsOp(":") && !IsOp("]") && !IsOp(",")) {
    QS_ASSIGN_OR_RETURN(sl->b, ParseExpression(true));
  }
  if (SkipOp(":")) {
    if (!IsOp("]") && !IsOp(",")) {
      QS_ASSIGN_OR_RETURN(sl->c, ParseExpression(true));
    }
  }
  QS_RETURN_IF_ERROR(Seal(sl.get()));
  return sl;
}

Status Parser::ParseCallArgs(Expr* e) {
  SrcPos pos = cur().pos;
  QS_RETURN_IF_ERROR(ExpectOp("("));
  bool require_comma = false;
  auto ensure = [&](bool ok) { return ok ? Status::Ok() : FailAt(pos, "invalid syntax for function call expression"); };
  while (!IsOp(")")) {
    if (require_comma) {
      QS_RETURN_IF_ERROR(ExpectOp(","));
      if (IsOp(")")) break;
    }
    if (IsOp("*")) {
      QS_RETURN_IF_ERROR(ensure(!e->dyn_args && !e->dyn_kwargs));
      Next();
      QS_ASSIGN_OR_RETURN(e->dyn_args, ParseExpression(true));
    } else if (IsOp("**")) {
      QS_RETURN_IF_ERROR(ensure(!e->dyn_kwargs));
      Next();
      QS_ASSIGN_OR_RETURN(e->dyn_kwargs, ParseExpression(true));
    } else if (cur().type == Tok::kName && look().type == Tok::kOp && look().text == "=") {
      QS_RETURN_IF_ERROR(ensure(!e->dyn_kwargs));
      std::string key = cur().text;
      Next();
      Next();
      QS_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
      e->kwargs.emplace_back(key, std::move(v));
    } else {
      QS_RETURN_IF_ERROR(ensure(!e->dyn_args && !e->dyn_kwargs && e->kwargs.empty()));
      QS_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
      e->items.push_back(std::move(v));
    }
    require_comma = true;
  }
  return ExpectOp(")");
}

Result<ExprPtr> Parser::ParseCall(ExprPtr node) {
  auto e = NewExpr(ExprKind::kCall, cur().pos);
  e->a = std::move(node);
  QS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
  QS_RETURN_IF_ERROR(Seal(e.get()));
  return e;
}

Result<std::string> Parser::DottedName() {
  QS_ASSIGN_OR_RETURN(std::string name, ExpectName());
  while (SkipOp(".")) {
    QS_ASSIGN_OR_RETURN(std::string part, ExpectName());
    name += "." + part;
  }
  return name;
}

Result<ExprPtr> Parser::ParseFilter(ExprPtr node, bool start_inline) {
  while (IsOp("|") || start_inline) {
    if (!start_inline) Next();
    start_inline = false;
    SrcPos pos = cur().pos;
    auto e = NewExpr(ExprKind::kFilter, pos);
    e->a = std::move(node);
    QS_ASSIGN_OR_RETURN(e->name, DottedName());
    if (IsOp("(")) QS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
    QS_RETURN_IF_ERROR(Seal(e.get()));
    node = std::move(e);
  }
  return node;
}

Result<ExprPtr> Parser::ParseTest(ExprPtr node) {
  SrcPos pos = cur().pos;
  Next();  // is
  bool negated = SkipName("not");
  auto e = NewExpr(ExprKind::kTest, pos);
  e->a = std::move(node);
  e->pos = cur().pos;
  QS_ASSIGN_OR_RETURN(e->name, DottedName());
  if (IsOp("(")) {
    QS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
  } else if ((cur().type == Tok::kName || cur().type == Tok::kString || cur().type == Tok::kInt ||
              cur().type == Tok::kFloat || IsOp("(") || IsOp("[") || IsOp("{")) &&
             !IsName("else") && !IsName("or") && !IsName("and")) {
    // `x is divisibleby 3`: one argument without parentheses.
    if (IsName("is")) return Fail("You cannot chain multiple tests with is");
    QS_ASSIGN_OR_RETURN(ExprPtr arg, ParsePrimary());
    QS_ASSIGN_OR_RETURN(arg, ParsePostfix(std::move(arg)));
    e->items.push_back(std::move(arg));
  }
  QS_RETURN_IF_ERROR(Seal(e.get()));
  if (!negated) return e;
  auto n = NewExpr(ExprKind::kNot, pos);
  n->a = std::move(e);
  QS_RETURN_IF_ERROR(Seal(n.get()));
  return n;
}

}  // namespace qs::jinja::internal
