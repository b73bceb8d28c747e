#include "runtime/tool_grammar.h"

#include <algorithm>

#include "runtime/json_schema_grammar.h"

namespace qs {

using ojson = nlohmann::ordered_json;
using Seq = Grammar::Seq;
using chat::ToolSyntax;

namespace {

bool IsStrict(const ojson& fn) { return fn.contains("strict") && fn["strict"].is_boolean() && fn["strict"].get<bool>(); }

const ojson& Params(const ojson& fn) {
  static const ojson kNone = nullptr;
  auto it = fn.find("parameters");
  return it == fn.end() ? kNone : *it;
}

Seq Cat(std::initializer_list<Seq> parts) {
  Seq s;
  for (const Seq& p : parts) s.insert(s.end(), p.begin(), p.end());
  return s;
}

class Builder {
 public:
  Builder(Grammar* g, const chat::ChatProtocol& p, SpecialTokens* sp, bool forced)
      : g_(g), p_(p), sp_(sp), json_(g, kEmpty), forced_(forced) {}

  // Whether a tool's arguments follow its schema: strict tools always; in a forced call (named or
  // "required") every tool whose schema is in the supported subset, as vLLM constrains forced
  // calls by the parameters schema; otherwise any JSON object.
  bool UseSchema(const ojson& fn) {
    if (IsStrict(fn)) return true;
    if (!forced_ || Params(fn).is_null()) return false;
    return CheckToolSchema(Params(fn)).ok();
  }

  // V3 / V3.1: the arguments as one JSON value.
  Result<int> JsonArgs(const ojson& fn) {
    const ojson& params = Params(fn);
    if (!UseSchema(fn)) return json_.AnyObject();
    if (params.is_null()) {
      int r = g_->NewRule();
      g_->AddAlt(r, g_->Lit("{}"));
      return r;
    }
    JsonSchemaGrammar c(g_, params);
    return c.Compile(params, "tools[" + fn.value("name", "") + "].parameters");
  }

  // V3.2: DSML parameters, each "<｜DSML｜parameter name="K" string="true|false">V</｜DSML｜parameter>\n".
  Result<int> DsmlArgs(const ojson& fn) {
    const std::string d = sp_->Mark(ToolCallDsml());
    const Seq close = g_->Lit("</" + d + "parameter>\n");
    const ojson& params = Params(fn);
    // DSML writes one parameter per property: the schema must be an object with properties.
    const bool schema_ok = params.is_object() && (!params.contains("type") || params["type"] == "object") &&
                           !params.contains("$ref") && !params.contains("anyOf") && !params.contains("oneOf");
    if (!UseSchema(fn) || (!IsStrict(fn) && !schema_ok)) {
      ByteSet name = Grammar::TextBytes();
      name.reset('"');
      name.reset('<');
      name.reset('>');
      int nm = g_->Repeat({Grammar::Ref(g_->Utf8Char(name))}, 1, -1);
      int value = g_->NewRule();
      g_->AddAlt(value, Cat({g_->Lit("true\">"), {Grammar::Ref(RawText(0, -1))}}));
      g_->AddAlt(value, Cat({g_->Lit("false\">"), {Grammar::Ref(json_.AnyValue())}}));
      Seq one = Cat({g_->Lit("<" + d + "parameter name=\""), {Grammar::Ref(nm)}, g_->Lit("\" string=\""),
                     {Grammar::Ref(value)}, close});
      return g_->Star(one);
    }
    if (params.is_null()) {
      int r = g_->NewRule();
      g_->AddAlt(r, {});
      return r;
    }
    const std::string where = "tools[" + fn.value("name", "") + "].parameters";
    if (!schema_ok)
      return InvalidArgument("a strict tool's parameters must be an object schema with properties at " + where);
    QS_RETURN_IF_ERROR(CheckToolSchema(params));  // every keyword, once, with the same errors as V3
    const ojson props = params.contains("properties") ? params["properties"] : ojson::object();
    std::vector<std::string> required;
    if (params.contains("required"))
      for (auto& r : params["required"]) required.push_back(r.get<std::string>());
    JsonSchemaGrammar c(g_, params);
    std::vector<int> items;
    std::vector<bool> optional;
    for (auto it = props.begin(); it != props.end(); ++it) {
      const ojson& ps = it.value();
      const bool is_string = ps.is_object() && ps.contains("type") && ps["type"] == "string";
      int value;
      if (is_string) {
        value = g_->NewRule();
        if (ps.contains("enum") || ps.contains("const")) {
          const ojson vals = ps.contains("enum") ? ps["enum"] : ojson::array({ps["const"]});
          for (auto& v : vals)
            if (v.is_string()) g_->AddAlt(value, g_->Lit(v.get<std::string>()));
        } else {
          const int lo = ps.value("minLength", 0), hi = ps.value("maxLength", -1);
          g_->AddAlt(value, {Grammar::Ref(RawText(lo, std::min(hi, 4096)))});
        }
      } else {
        QS_ASSIGN_OR_RETURN(value, c.Compile(ps, where + "/properties/" + it.key()));
      }
      int item = g_->NewRule();
      g_->AddAlt(item, Cat({g_->Lit("<" + d + "parameter name=\"" + it.key() + "\" string=\"" +
                                    (is_string ? "true" : "false") + "\">"),
                            {Grammar::Ref(value)}, close}));
      items.push_back(item);
      optional.push_back(std::find(required.begin(), required.end(), it.key()) == required.end());
    }
    Seq all;
    for (size_t i = 0; i < items.size(); ++i)
      all.push_back(Grammar::Ref(optional[i] ? g_->Opt({Grammar::Ref(items[i])}) : items[i]));
    int r = g_->NewRule();
    g_->AddAlt(r, all);
    return r;
  }

  // DSML's string="true" value: UTF-8 text without '<' (the next tag starts with it), min..max
  // characters (max < 0: unbounded).
  int RawText(int min, int max) {
    ByteSet raw = Grammar::TextBytes();
    raw.reset('<');
    if (raw_char_ < 0) raw_char_ = g_->Utf8Char(raw);
    return g_->Repeat({Grammar::Ref(raw_char_)}, min, max);
  }

  Result<int> Args(const ojson& fn) { return p_.tools == ToolSyntax::kDsml ? DsmlArgs(fn) : JsonArgs(fn); }

  // Between a call's name and its arguments, and after the arguments through the call's end.
  std::string ArgsPrefix() {
    switch (p_.tools) {
      case ToolSyntax::kV31: return sp_->Mark("<｜tool▁sep｜>");
      case ToolSyntax::kDsml: return "\">\n";
      default: return "\n```json\n";
    }
  }
  std::string ArgsSuffix() {
    const std::string ce = sp_->Mark("<｜tool▁call▁end｜>");
    switch (p_.tools) {
      case ToolSyntax::kV31: return ce;
      case ToolSyntax::kDsml: return "</" + sp_->Mark(ToolCallDsml()) + "invoke>\n";
      default: return "\n```" + ce;
    }
  }
  // Text of a call's head up to its name (after the section's opening for the first call).
  std::string Head() {
    const std::string cb = sp_->Mark("<｜tool▁call▁begin｜>");
    switch (p_.tools) {
      case ToolSyntax::kV31: return cb;
      case ToolSyntax::kDsml: return "<" + sp_->Mark(ToolCallDsml()) + "invoke name=\"";
      default: return cb + "function" + sp_->Mark("<｜tool▁sep｜>");
    }
  }
  std::string SectionOpen() {
    if (p_.tools == ToolSyntax::kDsml) return "\n\n<" + sp_->Mark(ToolCallDsml()) + p_.dsml_block + ">\n";
    return sp_->Mark("<｜tool▁calls▁begin｜>");
  }
  std::string SectionClose() {
    if (p_.tools == ToolSyntax::kDsml) return "</" + sp_->Mark(ToolCallDsml()) + p_.dsml_block + ">";
    return sp_->Mark("<｜tool▁calls▁end｜>");
  }
  static std::string ToolCallDsml() { return "｜DSML｜"; }

 private:
  static const ojson kEmpty;
  Grammar* g_;
  const chat::ChatProtocol& p_;
  SpecialTokens* sp_;
  JsonSchemaGrammar json_;
  bool forced_;
  int raw_char_ = -1;
};

const ojson Builder::kEmpty = ojson::object();

}  // namespace

Status CheckToolSchema(const ojson& parameters) {
  Grammar g;
  JsonSchemaGrammar c(&g, parameters);
  auto r = c.Compile(parameters);
  return r.ok() ? Status::Ok() : r.status();
}

Result<std::shared_ptr<Grammar>> ToolCallGrammar(const chat::ChatProtocol& p, const ojson& tools,
                                                 const ToolGrammarOptions& opt, SpecialTokens* sp) {
  if (p.tools == ToolSyntax::kNone) return InvalidArgument("this model's chat format has no tool calls");
  auto g = std::make_shared<Grammar>();
  Builder b(g.get(), p, sp, opt.mode != ToolGrammarOptions::kAuto);
  // One alternative per declared tool: NAME + the rest of its call ("calls" starts at the name).
  int named_rest = -1;
  int calls = g->NewRule();
  for (auto& t : tools) {
    const ojson& fn = t["function"];
    const std::string name = fn["name"].get<std::string>();
    // A named choice: that function only (for further parallel calls too).
    if (opt.mode == ToolGrammarOptions::kNamed && name != opt.name) continue;
    QS_ASSIGN_OR_RETURN(int args, b.Args(fn));
    Seq rest = Cat({{Grammar::Ref(args)}, g->Lit(b.ArgsSuffix())});
    g->AddAlt(calls, Cat({g->Lit(name + b.ArgsPrefix()), rest}));
    if (opt.mode == ToolGrammarOptions::kNamed && name == opt.name && named_rest < 0) {
      named_rest = g->NewRule();  // the prompt ends with the call's head, name and ArgsPrefix
      g->AddAlt(named_rest, rest);
    }
  }
  if (opt.mode == ToolGrammarOptions::kNamed && named_rest < 0)
    return InvalidArgument("tool_choice names a function not in 'tools'");
  // After a call: the section's end, or (parallel calls) another call.
  int more = g->NewRule();
  g->AddAlt(more, g->Lit(b.SectionClose()));
  if (opt.parallel) g->AddAlt(more, Cat({g->Lit(b.Head()), {Grammar::Ref(calls), Grammar::Ref(more)}}));
  int root = g->NewRule();
  switch (opt.mode) {
    case ToolGrammarOptions::kNamed:
      g->AddAlt(root, {Grammar::Ref(named_rest), Grammar::Ref(more)});
      break;
    case ToolGrammarOptions::kRequired:
      // The prompt ends with ForcedToolOpening(""): through the first call's head for V3 / V3.1,
      // the section's opening only for DSML.
      if (p.tools != ToolSyntax::kDsml) g->AddAlt(root, {Grammar::Ref(calls), Grammar::Ref(more)});
      else g->AddAlt(root, Cat({g->Lit(b.Head()), {Grammar::Ref(calls), Grammar::Ref(more)}}));
      break;
    case ToolGrammarOptions::kAuto: {
      // Free text without the section's opening, then optionally the section.
      const std::string open = b.SectionOpen();
      const std::string avoid = p.tools == ToolSyntax::kDsml ? "<" + sp->Mark(Builder::ToolCallDsml()) : open;
      int text = g->TextAvoiding(avoid);
      g->AddAlt(root, {Grammar::Ref(text)});
      g->AddAlt(root, Cat({{Grammar::Ref(text)}, g->Lit(open + b.Head()), {Grammar::Ref(calls), Grammar::Ref(more)}}));
      break;
    }
  }
  g->set_root(root);
  return g;
}

}  // namespace qs
