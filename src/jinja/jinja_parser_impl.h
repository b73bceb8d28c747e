// Internal to the Jinja parser (jinja_parser.cc: statements and checks; jinja_parser_expr.cc:
// expressions). A port of jinja2's parser.py.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "jinja/jinja_parser.h"

namespace qs::jinja::internal {

inline std::string Describe(const Token& t) {
  switch (t.type) {
    case Tok::kName:
    case Tok::kOp:
      return t.text;
    case Tok::kString:
      return "string";
    case Tok::kInt:
      return "integer";
    case Tok::kFloat:
      return "float";
    case Tok::kData:
      return "template data / text";
    case Tok::kVarBegin:
      return "begin of print statement";
    case Tok::kVarEnd:
      return "end of print statement";
    case Tok::kBlockBegin:
      return "begin of statement block";
    case Tok::kBlockEnd:
      return "end of statement block";
    case Tok::kEof:
      return "end of template";
  }
  return "?";
}

inline ExprPtr NewExpr(ExprKind k, SrcPos pos) {
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
  Status CheckDepth() const { return depth_ > kMaxParseDepth ? Fail("template nested too deeply") : Status::Ok(); }
  // Saves and restores whether break/continue are allowed (inside a loop, not across a macro).
  struct FrameGuard {
    Parser* p;
    bool in_loop;
    FrameGuard(Parser* p, bool new_loop) : p(p), in_loop(p->in_loop_) { p->in_loop_ = new_loop; }
    ~FrameGuard() { p->in_loop_ = in_loop; }
  };

  // ---- statements (jinja_parser.cc) ----
  Result<Body> Subparse(std::initializer_list<const char*> end_tokens);
  Result<Body> ParseStatements(std::initializer_list<const char*> end_tokens, bool drop);
  Status ParseStatement(Body* out);
  Status ParseFor(Stmt* s);
  Status ParseIf(Stmt* s);
  Status ParseSet(Stmt* s);
  Status ParseWith(Stmt* s);
  Status ParseSignature(Stmt* s);
  void TakeSpecialNames(Stmt* s);
  Status ParseMacro(Stmt* s);
  Status ParseCallBlock(Stmt* s);
  Result<ExprPtr> ParseAssignTarget(bool with_tuple, bool name_only, std::initializer_list<const char*> extra_end,
                                    bool with_namespace);
  Status CheckAssignable(const Expr& e) const;

  // ---- expressions (jinja_parser_expr.cc) ----
  Status Seal(Expr* e) const;
  bool IsTupleEnd(std::initializer_list<const char*> extra) const;
  Result<ExprPtr> ParseTuple(bool simplified, bool with_condexpr, std::initializer_list<const char*> extra,
                             bool explicit_parens);
  Result<ExprPtr> ParseExpression(bool with_condexpr);
  Result<ExprPtr> ParseCondExpr();
  Result<ExprPtr> ParseOr();
  Result<ExprPtr> ParseAnd();
  Result<ExprPtr> ParseNot();
  Result<ExprPtr> ParseCompare();
  Result<ExprPtr> ParseMath1();
  Result<ExprPtr> ParseConcat();
  Result<ExprPtr> ParseMath2();
  Result<ExprPtr> ParsePow();
  Result<ExprPtr> ParseUnary(bool with_filter);
  Result<ExprPtr> ParsePrimary();
  Result<ExprPtr> ParsePostfix(ExprPtr node);
  Result<ExprPtr> ParseFilterExpr(ExprPtr node);
  Result<ExprPtr> ParseSubscript(ExprPtr node);
  Result<ExprPtr> ParseSubscribed();
  Status ParseCallArgs(Expr* e);
  Result<ExprPtr> ParseCall(ExprPtr node);
  Result<std::string> DottedName();
  Result<ExprPtr> ParseFilter(ExprPtr node, bool start_inline);
  Result<ExprPtr> ParseTest(ExprPtr node);

  // ---- compile-time name checks (jinja_parser.cc) ----
  Status CheckExpr(const Expr* e, bool soft) const;
  Status CheckBody(const Body& body, bool soft) const;

  std::vector<Token> t_;
  size_t i_ = 0;
  int depth_ = 0;
  bool in_loop_ = false;
  std::vector<std::set<std::string>> used_names_;
};

}  // namespace qs::jinja::internal
