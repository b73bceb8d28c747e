#include "jinja/jinja_parser.h"

#include "jinja/jinja_parser_impl.h"

namespace qs::jinja {
namespace internal {

Result<Body> Parser::Subparse(std::initializer_list<const char*> end_tokens) {
  Body body;
  while (cur().type != Tok::kEof) {
    const Token& tok = cur();
    if (tok.type == Tok::kData) {
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kText;
      s->pos = tok.pos;
      s->text = tok.text;
      body.push_back(std::move(s));
      Next();
    } else if (tok.type == Tok::kVarBegin) {
      Next();
      auto s = std::make_unique<Stmt>();
      s->kind = StmtKind::kPrint;
      s->pos = cur().pos;
      QS_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, true, {}, false));
      QS_RETURN_IF_ERROR(Expect(Tok::kVarEnd, "end of print statement"));
      body.push_back(std::move(s));
    } else if (tok.type == Tok::kBlockBegin) {
      Next();
      for (const char* e : end_tokens)
        if (IsName(e)) return body;
      QS_RETURN_IF_ERROR(ParseStatement(&body));
      QS_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "end of statement block"));
    } else {
      return Fail("unexpected " + Q(Describe(tok)));
    }
  }
  return body;
}

// Body up to one of `end_tokens`; leaves the end tag name as the current token unless `drop`.
Result<Body> Parser::ParseStatements(std::initializer_list<const char*> end_tokens, bool drop) {
  SkipOp(":");
  QS_RETURN_IF_ERROR(Expect(Tok::kBlockEnd, "end of statement block"));
  QS_ASSIGN_OR_RETURN(Body body, Subparse(end_tokens));
  if (cur().type == Tok::kEof) {
    std::string want;
    for (const char* e : end_tokens) want += (want.empty() ? "" : " or ") + Q(e);
    return Fail("unexpected end of template; jinja was looking for the following tags: " + want);
  }
  if (drop) Next();
  return body;
}

Status Parser::ParseStatement(Body* out) {
  DepthGuard dg(this);
  QS_RETURN_IF_ERROR(CheckDepth());
  if (cur().type != Tok::kName) return Fail("tag name expected");
  const std::string tag = cur().text;
  const SrcPos pos = cur().pos;
  auto s = std::make_unique<Stmt>();
  s->pos = pos;
  if (tag == "for") {
    QS_RETURN_IF_ERROR(ParseFor(s.get()));
  } else if (tag == "if") {
    QS_RETURN_IF_ERROR(ParseIf(s.get()));
  } else if (tag == "set") {
    QS_RETURN_IF_ERROR(ParseSet(s.get()));
  } else if (tag == "macro") {
    QS_RETURN_IF_ERROR(ParseMacro(s.get()));
  } else if (tag == "call") {
    QS_RETURN_IF_ERROR(ParseCallBlock(s.get()));
  } else if (tag == "filter") {
    Next();
    s->kind = StmtKind::kFilterBlock;
    FrameGuard fg(this, in_loop_);
    QS_ASSIGN_OR_RETURN(s->expr, ParseFilter(nullptr, true));
    QS_ASSIGN_OR_RETURN(s->body, ParseStatements({"endfilter"}, true));
  } else if (tag == "with") {
    QS_RETURN_IF_ERROR(ParseWith(s.get()));
  } else if (tag == "print") {
    Next();
    for (bool first = true; cur().type != Tok::kBlockEnd; first = false) {
      if (!first) QS_RETURN_IF_ERROR(ExpectOp(","));
      auto p = std::make_unique<Stmt>();
      p->kind = StmtKind::kPrint;
      p->pos = pos;
      QS_ASSIGN_OR_RETURN(p->expr, ParseExpression(true));
      out->push_back(std::move(p));
    }
    return Status::Ok();
  } else if (tag == "break" || tag == "continue") {
    if (!in_loop_) return Fail(Q(tag) + " outside loop");
    Next();
    s->kind = tag == "break" ? StmtKind::kBreak : StmtKind::kContinue;
  } else if (tag == "generation") {
    // transformers' AssistantTracker extension: renders its body (used for assistant masks).
    Next();
    s->kind = StmtKind::kScope;
    FrameGuard fg(this, false);
    QS_ASSIGN_OR_RETURN(s->body, ParseStatements({"endgeneration"}, true));
  } else if (tag == "block" || tag == "extends" || tag == "include" || tag == "import" || tag == "from" ||
             tag == "autoescape") {
    return Fail("the " + Q(tag) + " tag is not supported (chat templates are rendered standalone)");
  } else {
    return Fail("Encountered unknown tag " + Q(tag) + ".");
  }
  out->push_back(std::move(s));
  return Status::Ok();
}

Status Parser::ParseFor(Stmt* s) {
  Next();
  s->kind = StmtKind::kFor;
  QS_ASSIGN_OR_RETURN(s->target, ParseAssignTarget(true, false, {"in"}, false));
  if (!SkipName("in")) return Fail("expected token 'in', got " + Q(Describe(cur())));
  QS_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, false, {"recursive"}, false));
  const bool outer_loop = in_loop_;
  FrameGuard fg(this, true);
  if (SkipName("if")) {
    QS_ASSIGN_OR_RETURN(s->cond, ParseExpression(true));
  }
  s->recursive = SkipName("recursive");
  QS_ASSIGN_OR_RETURN(s->body, ParseStatements({"endfor", "else"}, false));
  bool is_else = IsName("else");
  Next();
  if (is_else) {
    FrameGuard fg2(this, outer_loop);
    QS_ASSIGN_OR_RETURN(s->else_body, ParseStatements({"endfor"}, true));
  }
  return Status::Ok();
}

Status Parser::ParseIf(Stmt* s) {
  Next();
  s->kind = StmtKind::kIf;
  FrameGuard fg(this, in_loop_);
  while (true) {
    QS_ASSIGN_OR_RETURN(ExprPtr test, ParseTuple(false, false, {}, false));
    QS_ASSIGN_OR_RETURN(Body body, ParseStatements({"elif", "else", "endif"}, false));
    s->branches.emplace_back(std::move(test), std::move(body));
    std::string which = cur().text;
    Next();
    if (which == "elif") continue;
    if (which == "else") {
      QS_ASSIGN_OR_RETURN(s->else_body, ParseStatements({"endif"}, true));
    }
    return Status::Ok();
  }
}

Status Parser::ParseSet(Stmt* s) {
  Next();
  QS_ASSIGN_OR_RETURN(s->target, ParseAssignTarget(true, false, {}, true));
  if (SkipOp("=")) {
    s->kind = StmtKind::kSet;
    QS_ASSIGN_OR_RETURN(s->expr, ParseTuple(false, true, {}, false));
    return Status::Ok();
  }
  s->kind = StmtKind::kSetBlock;
  FrameGuard fg(this, in_loop_);
  if (IsOp("|")) {
    QS_ASSIGN_OR_RETURN(s->expr, ParseFilter(nullptr, false));
  }
  QS_ASSIGN_OR_RETURN(s->body, ParseStatements({"endset"}, true));
  return Status::Ok();
}

Status Parser::ParseWith(Stmt* s) {
  Next();
  s->kind = StmtKind::kWith;
  while (cur().type != Tok::kBlockEnd) {
    if (!s->targets.empty()) QS_RETURN_IF_ERROR(ExpectOp(","));
    QS_ASSIGN_OR_RETURN(ExprPtr t, ParseAssignTarget(true, false, {}, false));
    QS_RETURN_IF_ERROR(ExpectOp("="));
    QS_ASSIGN_OR_RETURN(ExprPtr v, ParseExpression(true));
    s->targets.push_back(std::move(t));
    s->values.push_back(std::move(v));
  }
  FrameGuard fg(this, in_loop_);
  QS_ASSIGN_OR_RETURN(s->body, ParseStatements({"endwith"}, true));
  return Status::Ok();
}

Status Parser::ParseSignature(Stmt* s) {
  QS_RETURN_IF_ERROR(ExpectOp("("));
  while (!IsOp(")")) {
    if (!s->params.empty()) QS_RETURN_IF_ERROR(ExpectOp(","));
    QS_ASSIGN_OR_RETURN(std::string name, ExpectName());
    if (SkipOp("=")) {
      QS_ASSIGN_OR_RETURN(ExprPtr d, ParseExpression(true));
      s->defaults.push_back(std::move(d));
    } else if (!s->defaults.empty()) {
      return Fail("non-default argument follows default argument");
    }
    s->params.push_back(name);
  }
  return ExpectOp(")");
}

// jinja2 decides from the body which of caller/varargs/kwargs a macro accepts.
void Parser::TakeSpecialNames(Stmt* s) {
  auto& used = used_names_.back();
  s->caller = used.count("caller") > 0;
  s->catch_varargs = used.count("varargs") > 0;
  s->catch_kwargs = used.count("kwargs") > 0;
  auto inner = std::move(used);
  used_names_.pop_back();
  if (!used_names_.empty()) used_names_.back().insert(inner.begin(), inner.end());
}

Status Parser::ParseMacro(Stmt* s) {
  Next();
  s->kind = StmtKind::kMacro;
  QS_ASSIGN_OR_RETURN(s->name, ExpectName());
  FrameGuard fg(this, false);
  used_names_.emplace_back();
  QS_RETURN_IF_ERROR(ParseSignature(s));
  QS_ASSIGN_OR_RETURN(s->body, ParseStatements({"endmacro"}, true));
  TakeSpecialNames(s);
  return Status::Ok();
}

Status Parser::ParseCallBlock(Stmt* s) {
  Next();
  s->kind = StmtKind::kCallBlock;
  FrameGuard fg(this, false);
  used_names_.emplace_back();
  if (IsOp("(")) QS_RETURN_IF_ERROR(ParseSignature(s));
  QS_ASSIGN_OR_RETURN(s->expr, ParseExpression(true));
  if (s->expr->kind != ExprKind::kCall) return FailAt(s->pos, "expected call");
  QS_ASSIGN_OR_RETURN(s->body, ParseStatements({"endcall"}, true));
  TakeSpecialNames(s);
  return Status::Ok();
}

// Names, tuples of names, or ns.attr (in `set`).
Result<ExprPtr> Parser::ParseAssignTarget(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
                                          bool with_namespace) {
  ExprPtr target;
  if (with_namespace && cur().type == Tok::kName && look().type == Tok::kOp && look().text == ".") {
    target = NewExpr(ExprKind::kNSRef, cur().pos);
    target->name = cur().text;
    Next();
    Next();
    QS_ASSIGN_OR_RETURN(target->attr, ExpectName());
    return target;
  }
  if (name_only) {
    target = NewExpr(ExprKind::kName, cur().pos);
    QS_ASSIGN_OR_RETURN(target->name, ExpectName());
    return target;
  }
  if (with_tuple) {
    QS_ASSIGN_OR_RETURN(target, ParseTuple(true, true, extra_end, false));
  } else {
    QS_ASSIGN_OR_RETURN(target, ParsePrimary());
  }
  QS_RETURN_IF_ERROR(CheckAssignable(*target));
  return target;
}

Status Parser::CheckAssignable(const Expr& e) const {
  if (e.kind == ExprKind::kName) return Status::Ok();
  if (e.kind == ExprKind::kTuple) {
    for (const auto& x : e.items) QS_RETURN_IF_ERROR(CheckAssignable(*x));
    return Status::Ok();
  }
  return FailAt(e.pos, "can't assign to this expression");
}

// Unknown names fail at compile time, except in "soft" frames: the test and branches of an
// `if` and every part of an inline if-expression (where they fail only when evaluated).
// Constructs with their own frame (for bodies, macros, blocks) are never soft.
Status Parser::CheckExpr(const Expr* e, bool soft) const {
  if (!e) return Status::Ok();
  if (e->kind == ExprKind::kCond) soft = true;
  if (e->kind == ExprKind::kFilter && !soft && !IsKnownFilter(e->name))
    return FailAt(e->pos, "No filter named " + Q(e->name) + ".");
  if (e->kind == ExprKind::kTest && !soft && !IsKnownTest(e->name))
    return FailAt(e->pos, "No test named " + Q(e->name) + ".");
  for (const Expr* x : {e->a.get(), e->b.get(), e->c.get(), e->dyn_args.get(), e->dyn_kwargs.get()})
    QS_RETURN_IF_ERROR(CheckExpr(x, soft));
  for (const auto& x : e->items) QS_RETURN_IF_ERROR(CheckExpr(x.get(), soft));
  for (const auto& kv : e->kwargs) QS_RETURN_IF_ERROR(CheckExpr(kv.second.get(), soft));
  return Status::Ok();
}

Status Parser::CheckBody(const Body& body, bool soft) const {
  for (const auto& s : body) {
    switch (s->kind) {
      case StmtKind::kIf:
        for (const auto& [test, b] : s->branches) {
          QS_RETURN_IF_ERROR(CheckExpr(test.get(), true));
          QS_RETURN_IF_ERROR(CheckBody(b, true));
        }
        QS_RETURN_IF_ERROR(CheckBody(s->else_body, true));
        break;
      case StmtKind::kFor:
        QS_RETURN_IF_ERROR(CheckExpr(s->expr.get(), soft));
        QS_RETURN_IF_ERROR(CheckExpr(s->cond.get(), false));
        QS_RETURN_IF_ERROR(CheckBody(s->body, false));
        QS_RETURN_IF_ERROR(CheckBody(s->else_body, false));
        break;
      case StmtKind::kCallBlock:
      case StmtKind::kWith:
        QS_RETURN_IF_ERROR(CheckExpr(s->expr.get(), soft));
        for (const auto& v : s->values) QS_RETURN_IF_ERROR(CheckExpr(v.get(), soft));
        for (const auto& d : s->defaults) QS_RETURN_IF_ERROR(CheckExpr(d.get(), false));
        QS_RETURN_IF_ERROR(CheckBody(s->body, false));
        break;
      case StmtKind::kPrint:
      case StmtKind::kSet:
        QS_RETURN_IF_ERROR(CheckExpr(s->expr.get(), soft));
        break;
      default:  // set blocks, filter blocks, macros, generation: their own frame
        QS_RETURN_IF_ERROR(CheckExpr(s->expr.get(), false));
        for (const auto& d : s->defaults) QS_RETURN_IF_ERROR(CheckExpr(d.get(), false));
        QS_RETURN_IF_ERROR(CheckBody(s->body, false));
        break;
    }
  }
  return Status::Ok();
}

}  // namespace internal

Result<Body> Parse(std::vector<Token> tokens) { return internal::Parser(std::move(tokens)).Run(); }

}  // namespace qs::jinja
