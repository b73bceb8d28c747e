// Grammar-constrained decoding: the byte grammar and its matcher, JSON schema -> grammar (valid
// documents accepted, invalid ones refused, every random sentence parses and validates), tool-call
// grammars in each syntax (random sentences parse back to declared calls with valid arguments),
// and the token constraint over a small vocabulary.
#include "runtime/grammar.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "chat/tool_calls.h"
#include "runtime/json_schema_grammar.h"
#include "runtime/tool_grammar.h"

namespace qs {
namespace {

using ojson = nlohmann::ordered_json;

std::shared_ptr<Grammar> Schema(const std::string& schema) {
  auto g = JsonSchemaToGrammar(ojson::parse(schema));
  EXPECT_TRUE(g.ok()) << g.status().message();
  return g.ok() ? std::move(g).value() : nullptr;
}

// 1: complete sentence, 0: a prefix only, -1: refused.
int Match(const std::shared_ptr<Grammar>& g, const std::string& text) {
  GrammarMatcher m(g);
  if (!m.Feed(text)) return -1;
  return m.CanEnd() ? 1 : 0;
}

// A random sentence: uniform among the bytes the grammar allows, ending when it can with
// probability p_end. Empty when it runs past max_len.
std::string RandomSentence(const std::shared_ptr<Grammar>& g, std::mt19937& rng, double p_end = 0.3,
                           size_t max_len = 4000) {
  GrammarMatcher m(g);
  std::string out;
  while (out.size() < max_len) {
    if (m.CanEnd() && std::uniform_real_distribution<double>(0, 1)(rng) < p_end) return out;
    std::vector<uint8_t> ok;
    for (int b = 0; b < 256; ++b) {
      GrammarMatcher t = m;
      if (t.Feed(static_cast<uint8_t>(b))) ok.push_back(static_cast<uint8_t>(b));
    }
    if (ok.empty()) return m.CanEnd() ? out : std::string("<dead end>");
    uint8_t b = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
    m.Feed(b);
    out.push_back(static_cast<char>(b));
  }
  return "";
}

// A validator for the schema subset (what the grammar promises).
bool Validates(const ojson& v, const ojson& s, const ojson& root, std::string* why) {
  auto fail = [&](const std::string& w) {
    *why = w + " for " + v.dump();
    return false;
  };
  if (s.is_boolean()) return s.get<bool>() || fail("false schema");
  if (s.contains("$ref")) {
    std::string ref = s["$ref"].get<std::string>();
    return Validates(v, root.at(ojson::json_pointer(ref.substr(1))), root, why);
  }
  if (s.contains("nullable") && s["nullable"] == true && v.is_null()) return true;
  if (s.contains("enum")) {
    for (auto& e : s["enum"])
      if (e == v) return true;
    return fail("not in enum");
  }
  if (s.contains("const")) return s["const"] == v || fail("not const");
  if (s.contains("anyOf") || s.contains("oneOf")) {
    for (auto& a : s.contains("anyOf") ? s["anyOf"] : s["oneOf"]) {
      std::string w;
      if (Validates(v, a, root, &w)) return true;
    }
    return fail("no alternative");
  }
  if (s.contains("type")) {
    std::vector<std::string> types;
    if (s["type"].is_string()) types.push_back(s["type"]);
    else
      for (auto& t : s["type"]) types.push_back(t);
    bool ok = false;
    for (auto& t : types) {
      if (t == "string" && v.is_string()) {
        // Code points, not bytes.
        size_t n = 0;
        for (unsigned char c : v.get<std::string>()) n += (c & 0xC0) != 0x80;
        ok |= n >= s.value("minLength", 0u) && n <= s.value("maxLength", size_t(-1));
      }
      if (t == "integer" && v.is_number_integer()) ok |= !(s.contains("minimum") && v.get<double>() < s["minimum"].get<double>());
      if (t == "number" && v.is_number()) ok |= !(s.contains("minimum") && v.get<double>() < s["minimum"].get<double>());
      if (t == "boolean") ok |= v.is_boolean();
      if (t == "null") ok |= v.is_null();
      if (t == "array" && v.is_array()) {
        bool all = v.size() >= s.value("minItems", 0u) && v.size() <= s.value("maxItems", size_t(-1));
        for (auto& x : v)
          if (all && s.contains("items")) all = Validates(x, s["items"], root, why);
        ok |= all;
      }
      if (t == "object" && v.is_object()) {
        bool all = true;
        const ojson props = s.value("properties", ojson::object());
        for (auto& r : s.value("required", ojson::array())) all = all && v.contains(r.get<std::string>());
        for (auto it = v.begin(); all && it != v.end(); ++it) {
          if (props.contains(it.key())) all = Validates(it.value(), props[it.key()], root, why);
          else if (s.contains("additionalProperties") && s["additionalProperties"].is_object())
            all = Validates(it.value(), s["additionalProperties"], root, why);
          else all = !(s.contains("additionalProperties") && s["additionalProperties"] == false);
        }
        ok |= all;
      }
    }
    return ok || fail("type");
  }
  return true;
}

const char* kPerson = R"({"type":"object","properties":{
  "name":{"type":"string","maxLength":12},
  "age":{"type":"integer","minimum":0},
  "mood":{"enum":["happy","sad",null,3]},
  "tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":3},
  "score":{"type":["number","null"]},
  "ok":{"type":"boolean"},
  "pet":{"anyOf":[{"type":"object","properties":{"kind":{"const":"cat"},"lives":{"type":"integer"}},"required":["kind"],"additionalProperties":false},{"type":"null"}]},
  "note":{"type":"string","description":"ignored annotation"}},
  "required":["name","age","mood"],"additionalProperties":false,"title":"Person","$schema":"http://json-schema.org/draft-07/schema#"})";

TEST(Grammar, LiteralsRepetitionAndAvoidance) {
  auto g = std::make_shared<Grammar>();
  int r = g->NewRule();
  g->AddAlt(r, {Grammar::Ref(g->Repeat(g->Lit("ab"), 1, 3)), g->Byte('!')});
  g->set_root(r);
  EXPECT_EQ(Match(g, "ab!"), 1);
  EXPECT_EQ(Match(g, "ababab!"), 1);
  EXPECT_EQ(Match(g, "abababab"), -1);
  EXPECT_EQ(Match(g, "!"), -1);
  EXPECT_EQ(Match(g, "aba"), 0);

  auto t = std::make_shared<Grammar>();
  t->set_root(t->TextAvoiding("<|x"));
  EXPECT_EQ(Match(t, "hello <| world <x"), 1);
  EXPECT_EQ(Match(t, "a<<|x"), -1);
  EXPECT_EQ(Match(t, "<|<|x"), -1);
  EXPECT_EQ(Match(t, std::string("bad \xFF")), -1);  // never a special-token marker
}

TEST(JsonSchemaGrammar, AcceptsValidRejectsInvalid) {
  auto g = Schema(kPerson);
  ASSERT_TRUE(g);
  EXPECT_EQ(Match(g, R"({"name":"Ann","age":3,"mood":"happy"})"), 1);
  EXPECT_EQ(Match(g, R"({"name": "李雷", "age": 40, "mood": null, "tags": ["a", "bc"], "score": -1.5e3, "ok": true, "pet": {"kind":"cat","lives":9}})"), 1);
  EXPECT_EQ(Match(g, R"({"name":"Ann","age":3,"mood":3,"pet":null})"), 1);
  EXPECT_EQ(Match(g, R"({"name":"Ann","age":3)"), 0);
  EXPECT_EQ(Match(g, R"({"age":3,"name":"Ann","mood":"happy"})"), -1);   // schema order
  EXPECT_EQ(Match(g, R"({"name":"Ann","mood":"happy"})"), -1);           // age required
  EXPECT_EQ(Match(g, R"({"name":"Ann","age":-3,"mood":"happy"})"), -1);  // minimum 0
  EXPECT_EQ(Match(g, R"({"name":"Ann","age":3,"mood":"angry"})"), -1);   // enum
  EXPECT_EQ(Match(g, R"({"name":"Ann","age":3.5,"mood":"sad"})"), -1);   // integer
  EXPECT_EQ(Match(g, R"({"name":"Ann","age":3,"mood":"sad","x":1})"), -1);  // additionalProperties
  EXPECT_EQ(Match(g, R"({"name":"Ann Lee Smith Jr","age":3,"mood":"sad"})"), -1);  // maxLength
  EXPECT_EQ(Match(g, R"({"name":"A","age":3,"mood":"sad","tags":["a","b","c","d"]})"), -1);  // maxItems
  EXPECT_EQ(Match(g, R"({"name":"A","age":3,"mood":"sad","pet":{"kind":"dog"}})"), -1);      // const
  EXPECT_EQ(Match(g, R"({"name":"A","age":3,"mood":"sad"} )"), -1);  // nothing after the value
}

TEST(JsonSchemaGrammar, RefsMapsAndAnyValue) {
  auto g = Schema(R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
    "kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},"required":["v"]}},"$ref":"#/$defs/node"})");
  ASSERT_TRUE(g);
  EXPECT_EQ(Match(g, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4}]}]})"), 1);
  EXPECT_EQ(Match(g, R"({"v":1,"kids":[{"w":2}]})"), -1);
  auto m = Schema(R"({"type":"object","additionalProperties":{"type":"boolean"}})");
  EXPECT_EQ(Match(m, R"({"any key":true,"x":false})"), 1);
  EXPECT_EQ(Match(m, R"({"x":1})"), -1);
  auto any = Schema("{}");
  EXPECT_EQ(Match(any, R"([1,{"a":[null,"x"]},true])"), 1);
  EXPECT_EQ(Match(any, R"([1,])"), -1);
}

TEST(JsonSchemaGrammar, UnsupportedKeywordsAreNamed) {
  for (auto [schema, keyword] : std::vector<std::pair<const char*, const char*>>{
           {R"({"type":"string","pattern":"^a"})", "pattern"},
           {R"({"type":"string","format":"email"})", "format"},
           {R"({"type":"object","properties":{"n":{"type":"number","minimum":5}}})", "minimum"},
           {R"({"type":"integer","maximum":10})", "maximum"},
           {R"({"type":"array","uniqueItems":true})", "uniqueItems"},
           {R"({"not":{"type":"null"}})", "not"},
           {R"({"type":"decimal"})", "decimal"},
           {R"({"$ref":"#/$defs/missing"})", "missing"}}) {
    auto g = JsonSchemaToGrammar(ojson::parse(schema));
    ASSERT_FALSE(g.ok()) << schema;
    EXPECT_NE(g.status().message().find(keyword), std::string::npos) << g.status().message();
  }
  // zod's bounds for .int() (the safe-integer range) are no constraint and are accepted.
  EXPECT_TRUE(JsonSchemaToGrammar(ojson::parse(
      R"({"type":"integer","minimum":-9007199254740991,"maximum":9007199254740991})")).ok());
}

TEST(JsonSchemaGrammar, EveryRandomSentenceParsesAndValidates) {
  const char* schemas[] = {
      kPerson,
      R"({"type":"array","items":{"type":"object","properties":{"k":{"enum":["a","b"]},"n":{"type":"number"}},"required":["k","n"],"additionalProperties":false},"minItems":1,"maxItems":4})",
      R"({"anyOf":[{"type":"string","minLength":2,"maxLength":5},{"type":"integer","minimum":1},{"type":"boolean"}]})",
      R"({"$defs":{"t":{"type":"object","properties":{"c":{"type":"array","items":{"$ref":"#/$defs/t"},"maxItems":2}},"required":["c"],"additionalProperties":false}},"$ref":"#/$defs/t"})",
      "{}"};
  std::mt19937 rng(7);
  for (const char* s : schemas) {
    auto g = Schema(s);
    ASSERT_TRUE(g);
    const ojson schema = ojson::parse(s);
    int checked = 0;
    for (int i = 0; i < 200; ++i) {
      std::string text = RandomSentence(g, rng);
      if (text.empty()) continue;  // ran long (deep recursion): not a verdict
      ojson v = ojson::parse(text, nullptr, false);
      ASSERT_FALSE(v.is_discarded()) << s << "\n" << text;
      std::string why;
      EXPECT_TRUE(Validates(v, schema, schema, &why)) << s << "\n" << text << "\n" << why;
      ++checked;
    }
    EXPECT_GT(checked, 150) << s;
  }
}

const char* kTools = R"([
  {"type":"function","function":{"name":"get_weather","strict":true,"parameters":{"type":"object",
    "properties":{"city":{"type":"string","maxLength":8},"days":{"type":"integer","minimum":1},"unit":{"enum":["C","F"]}},
    "required":["city","unit"],"additionalProperties":false}}},
  {"type":"function","function":{"name":"get_time","strict":true,"parameters":{"type":"object","properties":{},"additionalProperties":false}}},
  {"type":"function","function":{"name":"search","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}}])";

void CheckCalls(const std::vector<chat::ToolCall>& calls, const ojson& tools, const std::string& text,
                const std::string& only = "") {
  ASSERT_FALSE(calls.empty()) << text;
  for (auto& c : calls) {
    const ojson* fn = nullptr;
    for (auto& t : tools)
      if (t["function"]["name"] == c.name) fn = &t["function"];
    ASSERT_TRUE(fn) << "undeclared tool '" << c.name << "' in " << text;
    if (!only.empty()) {
      EXPECT_EQ(c.name, only);
    }
    ojson args = ojson::parse(c.arguments, nullptr, false);
    ASSERT_TRUE(args.is_object()) << ojson(c.arguments).dump(-1, ' ', true, ojson::error_handler_t::replace) << "\n"
                                  << ojson(text).dump(-1, ' ', true, ojson::error_handler_t::replace);
    if (fn->value("strict", false)) {
      std::string why;
      EXPECT_TRUE(Validates(args, (*fn)["parameters"], (*fn)["parameters"], &why)) << text << "\n" << why;
    }
  }
}

TEST(ToolGrammar, RandomCallsParseToDeclaredToolsWithValidArguments) {
  const ojson tools = ojson::parse(kTools);
  std::mt19937 rng(11);
  for (auto family : {chat::ChatFamily::kDeepSeekV3, chat::ChatFamily::kDeepSeekV31, chat::ChatFamily::kDeepSeekV32}) {
    const chat::ChatProtocol p = chat::ProtocolFor(family);
    for (auto mode : {ToolGrammarOptions::kRequired, ToolGrammarOptions::kNamed, ToolGrammarOptions::kAuto}) {
      for (bool parallel : {false, true}) {
        ToolGrammarOptions o;
        o.mode = mode;
        o.parallel = parallel;
        if (mode == ToolGrammarOptions::kNamed) o.name = "get_weather";
        SpecialTokens sp(nullptr);  // no tokenizer: markup as text
        auto g = ToolCallGrammar(p, tools, o, &sp);
        ASSERT_TRUE(g.ok()) << g.status().message();
        // What the prompt holds before the grammar (the forced opening), as the server writes it.
        const std::string forced = mode == ToolGrammarOptions::kAuto ? "" : p.ForcedToolOpening(o.name);
        int with_calls = 0;
        for (int i = 0; i < 25; ++i) {
          std::string text = RandomSentence(*g, rng, 0.05, 6000);
          if (text.empty()) continue;
          ASSERT_NE(text, "<dead end>") << p.name;
          chat::ToolCallParser parser(p.tools, p.dsml_block);
          std::string content = parser.Push(forced + text);
          std::vector<chat::ToolCall> calls;
          content += parser.Finish(&calls);
          if (mode == ToolGrammarOptions::kAuto && calls.empty()) {
            EXPECT_EQ(content, text);  // plain text, no markup
            continue;
          }
          ++with_calls;
          CheckCalls(calls, tools, forced + text, mode == ToolGrammarOptions::kNamed ? "get_weather" : "");
          if (!parallel) {
            EXPECT_EQ(calls.size(), 1u) << forced + text;
          }
          if (mode != ToolGrammarOptions::kAuto) {
            EXPECT_EQ(content, "") << forced + text;
          }
        }
        if (mode != ToolGrammarOptions::kAuto) {
          EXPECT_GT(with_calls, 15) << p.name;
        }
      }
    }
  }
}

TEST(ToolGrammar, SpecialTokensAreMarkers) {
  // Markup that is a special token is written as 0xFF + index: text cannot spell it.
  SpecialTokens sp(nullptr);
  EXPECT_EQ(sp.Mark("<｜tool▁sep｜>"), "<｜tool▁sep｜>");
  EXPECT_TRUE(sp.tokens().empty());
}

// A tiny vocabulary: the constraint's mask over it, and random decoding under the mask always
// ends in valid JSON.
TEST(GrammarConstraint, MaskAndDecodeGiveValidJson) {
  auto vocab = std::make_shared<VocabBytes>();
  vocab->bytes = {"",  "{",   "}",     "\"",   "name", "\":", " ", "\"A", "nn\"", ",",  "\"age\":", "42", "4",
                  "x", "true", "\"mood", "\"happy\"", "\"sad\"", "null", "3", "\xFF", "{\"name\":\"", "\"}",
                  ":", "a", "g", "e", "n", "m"};
  const int32_t kEos = 0;
  auto g = Schema(R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false})");
  {
    GrammarConstraint c(g, vocab, {kEos});
    std::vector<uint8_t> mask(vocab->bytes.size(), 1);
    c.Mask(&mask);
    for (size_t i = 0; i < mask.size(); ++i)
      EXPECT_EQ(mask[i] != 0, i == 1 || i == 21) << i << " " << vocab->bytes[i];  // "{" or "{\"name\":\""
    EXPECT_FALSE(c.Allows(kEos));
    mask.assign(vocab->bytes.size(), 1);
    mask[1] = 0;  // what the caller already ruled out stays out
    c.Mask(&mask);
    EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), 1);
  }
  std::mt19937 rng(3);
  int done = 0;
  for (int trial = 0; trial < 50; ++trial) {
    GrammarConstraint c(g, vocab, {kEos});
    std::string out;
    for (int step = 0; step < 300; ++step) {
      std::vector<uint8_t> m(vocab->bytes.size(), 1);
      c.Mask(&m);
      std::vector<int32_t> ok;
      for (size_t t = 0; t < m.size(); ++t)
        if (m[t]) ok.push_back(static_cast<int32_t>(t));
      ASSERT_FALSE(ok.empty()) << out;
      // Favour the end and closing tokens so that most trials finish.
      int32_t pick = ok[std::uniform_int_distribution<size_t>(0, ok.size() - 1)(rng)];
      if (m[kEos]) pick = kEos;
      else if (m[22] && std::uniform_int_distribution<int>(0, 3)(rng) == 0) pick = 22;
      EXPECT_TRUE(c.Allows(pick));
      if (pick == kEos) {
        ojson v = ojson::parse(out, nullptr, false);
        ASSERT_TRUE(v.is_object()) << out;
        EXPECT_TRUE(v["name"].is_string() && v["age"].is_number_integer()) << out;
        ++done;
        break;
      }
      c.Accept(pick);
      out += vocab->bytes[static_cast<size_t>(pick)];
    }
  }
  EXPECT_GT(done, 10);
}

}  // namespace
}  // namespace qs
