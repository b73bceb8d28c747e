#include "tokenizer/jinja_parser.h"

#include <initializer_list>
#include <set>

namespace qs::jinja {
namespace {

std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kName:
    case Tok::kOp: return t.text;
    case Tok::kString: return "string";
    case Tok::kInt: return "integer";
    case Tok::kFloat: return "float";
    case Tok::kData: return "template data / text";
    case Tok::kVarBegin: return "begin of print statement";
    case Tok::kVarEnd: return "end of print statement";
    case Tok::kBlockBegin: return "begin of statement block";
    case Tok::kBlockEnd: return "end of statement block";
    case Tok::kEof: return "end of template";
  }
  return "?";
}

ExprPtr NewExpr(ExprKind k, SrcPos pos) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->pos = pos;
  return e;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<Body> Run() {
    QS_ASSIGN_OR_RETURN(Body body, Subparse({}));
    if (cur().type != Tok::kEof) return Fail("unexpected " + Q(Describe(cur())));
    QS_RETURN_IF_ERROR(CheckBody(body, false));
    return body;
  }

 private:
  // ---- token stream ----
  const Token& cur() const { return t_[i_]; }
  const Token& look() const { return t_[i_ + 1 < t_.size() ? i_ + 1 : i_]; }
  void Next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool IsOp(const char* op) const { return cur().type == Tok::kOp && cur().text == op; }
  bool IsName(const char* n) const { return cur().type == Tok::kName && cur().text == n; }
  bool SkipOp(const char* op) {
    if (!IsOp(op)) return false;
    Next();
    return true;
  }
  bool SkipName(const char* n) {
    if (!IsName(n)) return false;
    Next();
    return true;
  }
  static std::string Q(const std::string& s) { return "'" + s + "'"; }
  Status Fail(const std::string& msg) const { return FailAt(cur().pos, msg); }
  Status FailAt(SrcPos p, const std::string& msg) const {
    return InvalidArgument("template syntax error at " + PosString(p) + ": " + msg);
  }
  Status Expect(Tok type, const char* what) {
    if (cur().type != type) {
      if (cur().type == Tok::kEof) return Fail(std::string("unexpected end of template, expected ") + Q(what));
      return Fail("expected token " + Q(what) + ", got " + Q(Describe(cur())));
    }
    Next();
    return Status::Ok();
  }
  Status ExpectOp(const char* op) {
    if (!IsOp(op)) {
      if (cur().type == Tok::kEof) return Fail(std::string("unexpected end of template, expected ") + Q(op));
      return Fail(std::string("expected token ") + Q(op) + ", got " + Q(Describe(cur())));
    }
    Next();
    return Status::Ok();
  }
  Result<std::string> ExpectName() {
    if (cur().type != Tok::kName) return Fail("expected token 'name', got " + Q(Describe(cur())));
    std::string n = cur().text;
    Next();
    return n;
  }

  // Guards recursion depth for hostile input like "((((((...".
  struct DepthGuard {
    Parser* p;
    explicit DepthGuard(Parser* p) : p(p) { ++p->depth_; }
    ~DepthGuard() { --p->depth_; }
  };
  Status CheckDepth() const {
    return depth_ > kMaxParseDepth ? Fail("template nested too deeply") : Status::Ok();
  }
  // Saves and restores whether break/continue are allowed (inside a loop, not across a macro).
  struct FrameGuard {
    Parser* p;
    bool in_loop;
    FrameGuard(Parser* p, bool new_loop) : p(p), in_loop(p->in_loop_) { p->in_loop_ = new_loop; }
    ~FrameGuard() { p->in_loop_ = in_loop; }
  };

  // ---- statements ----
  Result<Body> Subparse(std::initializer_list<const char*> end_tokens) {
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
  Result<Body> ParseStatements(std::initializer_list<const char*> end_tokens, bool drop) {
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

  Status ParseStatement(Body* out) {
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

  Status ParseFor(Stmt* s) {
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

  Status ParseIf(Stmt* s) {
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

  Status ParseSet(Stmt* s) {
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

  Status ParseWith(Stmt* s) {
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

  Status ParseSignature(Stmt* s) {
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
  void TakeSpecialNames(Stmt* s) {
    auto& used = used_names_.back();
    s->caller = used.count("caller") > 0;
    s->catch_varargs = used.count("varargs") > 0;
    s->catch_kwargs = used.count("kwargs") > 0;
    auto inner = std::move(used);
    used_names_.pop_back();
    if (!used_names_.empty()) used_names_.back().insert(inner.begin(), inner.end());
  }

  Status ParseMacro(Stmt* s) {
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

  Status ParseCallBlock(Stmt* s) {
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
  Result<ExprPtr> ParseAssignTarget(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
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

  Status CheckAssignable(const Expr& e) const {
    if (e.kind == ExprKind::kName) return Status::Ok();
    if (e.kind == ExprKind::kTuple) {
      for (const auto& x : e.items) QS_RETURN_IF_ERROR(CheckAssignable(*x));
      return Status::Ok();
    }
    return FailAt(e.pos, "can't assign to this expression");
  }

  // ---- expressions ----
  bool IsTupleEnd(std::initializer_list<const char*> extra) const {
    if (cur().type == Tok::kVarEnd || cur().type == Tok::kBlockEnd || IsOp(")")) return true;
    for (const char* e : extra)
      if (IsName(e)) return true;
    return false;
  }

  Result<ExprPtr> ParseTuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra,
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
    return t;
  }

  Result<ExprPtr> ParseExpression(bool with_condexpr) {
    DepthGuard dg(this);
    QS_RETURN_IF_ERROR(CheckDepth());
    return with_condexpr ? ParseCondExpr() : ParseOr();
  }

  Result<ExprPtr> ParseCondExpr() {
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
      expr1 = std::move(c);
      pos = cur().pos;
    }
    return expr1;
  }

  Result<ExprPtr> ParseOr() {
    QS_ASSIGN_OR_RETURN(ExprPtr left, ParseAnd());
    while (IsName("or")) {
      auto e = NewExpr(ExprKind::kOr, cur().pos);
      Next();
      e->a = std::move(left);
      QS_ASSIGN_OR_RETURN(e->b, ParseAnd());
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseAnd() {
    QS_ASSIGN_OR_RETURN(ExprPtr left, ParseNot());
    while (IsName("and")) {
      auto e = NewExpr(ExprKind::kAnd, cur().pos);
      Next();
      e->a = std::move(left);
      QS_ASSIGN_OR_RETURN(e->b, ParseNot());
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseNot() {
    if (IsName("not")) {
      auto e = NewExpr(ExprKind::kNot, cur().pos);
      Next();
      DepthGuard dg(this);
      QS_RETURN_IF_ERROR(CheckDepth());
      QS_ASSIGN_OR_RETURN(e->a, ParseNot());
      return e;
    }
    return ParseCompare();
  }

  Result<ExprPtr> ParseCompare() {
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
    }
    return cmp ? std::move(cmp) : std::move(expr);
  }

  Result<ExprPtr> ParseMath1() {
    QS_ASSIGN_OR_RETURN(ExprPtr left, ParseConcat());
    while (IsOp("+") || IsOp("-")) {
      auto e = NewExpr(ExprKind::kBinOp, cur().pos);
      e->name = cur().text;
      Next();
      e->a = std::move(left);
      QS_ASSIGN_OR_RETURN(e->b, ParseConcat());
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseConcat() {
    SrcPos pos = cur().pos;
    QS_ASSIGN_OR_RETURN(ExprPtr first, ParseMath2());
    if (!IsOp("~")) return first;
    auto e = NewExpr(ExprKind::kConcat, pos);
    e->items.push_back(std::move(first));
    while (SkipOp("~")) {
      QS_ASSIGN_OR_RETURN(ExprPtr x, ParseMath2());
      e->items.push_back(std::move(x));
    }
    return e;
  }

  Result<ExprPtr> ParseMath2() {
    QS_ASSIGN_OR_RETURN(ExprPtr left, ParsePow());
    while (IsOp("*") || IsOp("/") || IsOp("//") || IsOp("%")) {
      auto e = NewExpr(ExprKind::kBinOp, cur().pos);
      e->name = cur().text;
      Next();
      e->a = std::move(left);
      QS_ASSIGN_OR_RETURN(e->b, ParsePow());
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParsePow() {
    QS_ASSIGN_OR_RETURN(ExprPtr left, ParseUnary(true));
    while (IsOp("**")) {
      auto e = NewExpr(ExprKind::kBinOp, cur().pos);
      e->name = "**";
      Next();
      e->a = std::move(left);
      QS_ASSIGN_OR_RETURN(e->b, ParseUnary(true));
      left = std::move(e);
    }
    return left;
  }

  Result<ExprPtr> ParseUnary(bool with_filter) {
    DepthGuard dg(this);
    QS_RETURN_IF_ERROR(CheckDepth());
    ExprPtr node;
    if (IsOp("-") || IsOp("+")) {
      node = NewExpr(IsOp("-") ? ExprKind::kNeg : ExprKind::kPos, cur().pos);
      Next();
      QS_ASSIGN_OR_RETURN(node->a, ParseUnary(false));
    } else {
      QS_ASSIGN_OR_RETURN(node, ParsePrimary());
    }
    QS_ASSIGN_OR_RETURN(node, ParsePostfix(std::move(node)));
    if (with_filter) {
      QS_ASSIGN_OR_RETURN(node, ParseFilterExpr(std::move(node)));
    }
    return node;
  }

  Result<ExprPtr> ParsePrimary() {
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
    } else {
      if (tok.type == Tok::kEof) return Fail("unexpected end of template");
      return Fail("unexpected " + Q(Describe(tok)));
    }
    return node;
  }

  Result<ExprPtr> ParsePostfix(ExprPtr node) {
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

  Result<ExprPtr> ParseFilterExpr(ExprPtr node) {
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

  Result<ExprPtr> ParseSubscript(ExprPtr node) {
    SrcPos pos = cur().pos;
    if (SkipOp(".")) {
      const Token& at = cur();
      if (at.type == Tok::kName) {
        auto e = NewExpr(ExprKind::kGetattr, pos);
        e->a = std::move(node);
        e->name = at.text;
        Next();
        return e;
      }
      if (at.type != Tok::kInt) return Fail("expected name or number");
      auto e = NewExpr(ExprKind::kGetitem, pos);
      e->a = std::move(node);
      e->b = NewExpr(ExprKind::kConst, at.pos);
      e->b->value = Value(at.ival);
      Next();
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
    }
    return e;
  }

  Result<ExprPtr> ParseSubscribed() {
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
    return sl;
  }

  Status ParseCallArgs(Expr* e) {
    SrcPos pos = cur().pos;
    QS_RETURN_IF_ERROR(ExpectOp("("));
    bool require_comma = false;
    auto ensure = [&](bool ok) {
      return ok ? Status::Ok() : FailAt(pos, "invalid syntax for function call expression");
    };
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

  Result<ExprPtr> ParseCall(ExprPtr node) {
    auto e = NewExpr(ExprKind::kCall, cur().pos);
    e->a = std::move(node);
    QS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
    return e;
  }

  Result<std::string> DottedName() {
    QS_ASSIGN_OR_RETURN(std::string name, ExpectName());
    while (SkipOp(".")) {
      QS_ASSIGN_OR_RETURN(std::string part, ExpectName());
      name += "." + part;
    }
    return name;
  }

  Result<ExprPtr> ParseFilter(ExprPtr node, bool start_inline) {
    while (IsOp("|") || start_inline) {
      if (!start_inline) Next();
      start_inline = false;
      SrcPos pos = cur().pos;
      auto e = NewExpr(ExprKind::kFilter, pos);
      e->a = std::move(node);
      QS_ASSIGN_OR_RETURN(e->name, DottedName());
      if (IsOp("(")) QS_RETURN_IF_ERROR(ParseCallArgs(e.get()));
      node = std::move(e);
    }
    return node;
  }

  Result<ExprPtr> ParseTest(ExprPtr node) {
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
    if (!negated) return e;
    auto n = NewExpr(ExprKind::kNot, pos);
    n->a = std::move(e);
    return n;
  }

  // ---- jinja2's compile-time check of filter and test names ----
  // Unknown names fail at compile time, except in "soft" frames: the test and branches of an
  // `if` and every part of an inline if-expression (where they fail only when evaluated).
  // Constructs with their own frame (for bodies, macros, blocks) are never soft.
  Status CheckExpr(const Expr* e, bool soft) const {
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

  Status CheckBody(const Body& body, bool soft) const {
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

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  bool in_loop_ = false;
  std::vector<std::set<std::string>> used_names_;
};

}  // namespace

Result<Body> Parse(std::vector<Token> tokens) { return Parser(std::move(tokens)).Run(); }

}  // namespace qs::jinja
