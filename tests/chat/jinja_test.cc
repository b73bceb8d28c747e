// The Jinja interpreter on its own: jinja2 semantics that chat templates depend on (expected
// strings below were produced by Python jinja2 3.1 with transformers' settings), error positions,
// and the limits that keep hostile templates from hanging or exhausting memory.
#include "jinja/jinja.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

namespace qs::jinja {
namespace {

using json = nlohmann::ordered_json;

const json kVars = json::parse(R"({
  "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi 你好"},
               {"role": "assistant", "content": "<think>x</think>Yo"}],
  "tools": null, "d": {"b": 2, "a": 1}, "n": null, "l": [3, 1, 2], "s": "  pad  "
})");

Result<std::string> R(const std::string& src, const json& vars = kVars, const RenderLimits& lim = {}) {
  QS_ASSIGN_OR_RETURN(Template t, Template::Parse(src));
  return t.RenderJson(vars, lim);
}

std::string Ok(const std::string& src, const json& vars = kVars) {
  auto r = R(src, vars);
  EXPECT_TRUE(r.ok()) << src << "\n" << r.status().message();
  return r.ok() ? r.value() : "<error>";
}

std::string Err(const std::string& src, const json& vars = kVars, const RenderLimits& lim = {}) {
  auto r = R(src, vars, lim);
  EXPECT_FALSE(r.ok()) << src << " rendered " << (r.ok() ? r.value() : "");
  return r.ok() ? "" : r.status().message();
}

TEST(Jinja, WhitespaceControlAsTransformers) {
  // trim_blocks + lstrip_blocks; "-" strips all whitespace; "+" disables; {{ }} is untouched.
  EXPECT_EQ(Ok("A\n  {% if true %}\n    B\n  {% endif %}\nC"), "A\n    B\nC");
  EXPECT_EQ(Ok("A\n  {%- if true %}\n    B\n  {%- endif %}\nC"), "A    BC");
  EXPECT_EQ(Ok("A\n  {% if true -%}\n    B\n  {% endif -%}\nC"), "A\nB\nC");
  EXPECT_EQ(Ok("A\n  {%+ if true %}\nB\n  {% endif +%}\nC"), "A\n  B\n\nC");
  EXPECT_EQ(Ok("A  {{ 'x' }}  \n  {{- 'y' -}}  \n  {{ 'z' }}\n"), "A  xyz");
  EXPECT_EQ(Ok("A\n  {# c #}\nB"), "A\nB");
  EXPECT_EQ(Ok("x\n"), "x");  // keep_trailing_newline=False drops one
  EXPECT_EQ(Ok("x\n\n"), "x\n");
  EXPECT_EQ(Ok("a\r\nb\r{% if true %}\r\nc{% endif %}"), "a\nb\nc");
  EXPECT_EQ(Ok("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
}

TEST(Jinja, UndefinedIsLenient) {
  EXPECT_EQ(Ok("[{{ nope }}][{{ messages[0].nope }}][{{ messages[7] }}]"), "[][][]");
  EXPECT_EQ(Ok("{{ nope is defined }} {{ nope is none }} {{ n is none }} {{ tools is none }} {{ nope | length }}"),
            "False False True True 0");
  EXPECT_EQ(Ok("{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
               "{{ add_generation_prompt }}"),
            "False");
  EXPECT_NE(Err("{{ nope.attr }}").find("'nope' is undefined"), std::string::npos);
  EXPECT_NE(Err("{{ 'a' + nope }}").find("undefined"), std::string::npos);
}

TEST(Jinja, PythonSemantics) {
  EXPECT_EQ(Ok("{{ messages[-1]['content'].split('</think>')[-1] }}"), "Yo");
  EXPECT_EQ(Ok("{{ 'a</think>b</think>c'.split('</think>', 1)[1] }}"), "b</think>c");
  EXPECT_EQ(Ok("{{ messages[1].content[::-1] }}|{{ messages[1].content | length }}"), "好你 iH|5");
  EXPECT_EQ(Ok("{{ d }}|{{ l }}|{{ (1,) }}|{{ n }}|{{ 1.0 }}|{{ 1e20 }}|{{ 10/4 }}|{{ -7 // 2 }}|{{ -7 % 3 }}"),
            "{'b': 2, 'a': 1}|[3, 1, 2]|(1,)|None|1.0|1e+20|2.5|-4|2");
  EXPECT_EQ(Ok("{{ d | tojson }}|{{ 'é\"' | tojson }}|{{ d | tojson(indent=2) }}"),
            "{\"b\": 2, \"a\": 1}|\"é\\\"\"|{\n  \"b\": 2,\n  \"a\": 1\n}");
  EXPECT_EQ(Ok("{% for k, v in d.items() %}{{ k }}{{ v }}{% endfor %}|{{ d.get('z', 0) }}|{{ 'b' in d }}"),
            "b2a1|0|True");
  EXPECT_EQ(Ok("{{ s.strip() }}|{{ s | trim }}|{{ 'A' ~ 1 ~ none }}|{{ 'x' if n else 'y' }}"), "pad|pad|A1None|y");
}

TEST(Jinja, ScopingFollowsJinja2) {
  EXPECT_EQ(Ok("{% for i in range(3) %}{% if i == 0 %}{% set x = 5 %}{% endif %}[{{ x }}]{% endfor %}{{ x }}"),
            "[5][][]");
  EXPECT_EQ(Ok("{% set ns = namespace(c=0) %}{% for m in messages %}{% set ns.c = ns.c + 1 %}{% endfor %}{{ ns.c }}"),
            "3");
  EXPECT_EQ(Ok("{% macro m() %}{{ y }}{% endmacro %}{% set y = 1 %}{{ m() }}{% set y = 2 %}{{ m() }}"), "12");
  EXPECT_EQ(Ok("{% for x in l %}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }} {% endfor %}"),
            "1TrueFalse3 2FalseFalse3 3FalseTrue3 ");
  EXPECT_EQ(Ok("{% for x in range(9) %}{% if x == 1 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}"
               "{{ x }}{% endfor %}"),
            "02");
}

TEST(Jinja, SyntaxErrorsCarryLineAndColumn) {
  std::string e = Err("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}");
  EXPECT_NE(e.find("line 3, column"), std::string::npos) << e;
  e = Err("{% for x in l %}");
  EXPECT_NE(e.find("endfor"), std::string::npos) << e;
  e = Err("ok\n  {{ 'unterminated }}");
  EXPECT_NE(e.find("line 2, column 6"), std::string::npos) << e;
  EXPECT_NE(Err("{{ x | nosuch }}").find("No filter named 'nosuch'"), std::string::npos);
  EXPECT_NE(Err("{% break %}").find("outside loop"), std::string::npos);
  EXPECT_NE(Err("{% include 'x' %}").find("not supported"), std::string::npos);
  e = Err("a\nb {{ raise_exception('Conversation roles must alternate') }}");
  EXPECT_NE(e.find("line 2, column"), std::string::npos) << e;
  EXPECT_NE(e.find("Conversation roles must alternate"), std::string::npos) << e;
}

TEST(Jinja, RuntimeErrorsCarryLineAndColumn) {
  std::string e = Err("\n\n   {{ messages[0].content + 1 }}");
  EXPECT_NE(e.find("line 3, column"), std::string::npos) << e;
  EXPECT_NE(e.find("can only concatenate str"), std::string::npos) << e;
}

TEST(Jinja, LimitsStopRunawayTemplates) {
  EXPECT_NE(Err("{{ range(1000000) | length }}").find("Range too big"), std::string::npos);
  // 10^10 iterations: the step budget ends it quickly.
  RenderLimits lim;
  lim.max_steps = 100000;
  std::string e = Err("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", kVars, lim);
  EXPECT_NE(e.find("steps"), std::string::npos) << e;
  e = Err("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}");
  EXPECT_NE(e.find("recursion"), std::string::npos) << e;
  lim = RenderLimits{};
  lim.max_output_bytes = 1 << 20;
  e = Err("{{ 'x' * 100000000 }}", kVars, lim);
  EXPECT_NE(e.find("limit"), std::string::npos) << e;
  e = Err("{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
          kVars, lim);
  EXPECT_NE(e.find("limit"), std::string::npos) << e;
  e = Err("{% for i in range(100000) %}{{ 'yyyyyyyyyyyyyyyyyyyy' }}{% endfor %}", kVars, lim);
  EXPECT_NE(e.find("limit"), std::string::npos) << e;
  EXPECT_NE(Err("{{ 9223372036854775807 + 1 }}").find("overflow"), std::string::npos);
}

TEST(Jinja, DeepNestingIsAnErrorNotACrash) {
  std::string deep = "{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}";
  EXPECT_NE(Err(deep).find("nested too deeply"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  EXPECT_FALSE(R(ifs).ok());
  std::string nots = "{{ " + [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "not ";
    return s;
  }() + "1 }}";
  EXPECT_FALSE(R(nots).ok());
  std::string filters = "{{ 1" + [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "|string";
    return s;
  }() + " }}";
  EXPECT_FALSE(R(filters).ok());  // 100000 nested filter applications: too deep
  std::string sum = "{{ 1" + [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "+1";
    return s;
  }() + " }}";
  EXPECT_FALSE(R(sum).ok());
  // Values nested deeper than the limit (built one level per statement) are refused.
  std::string nest = "{% set a = 1 %}";
  for (int i = 0; i < 3000; ++i) nest += "{% set a = [a] %}";
  EXPECT_NE(Err(nest).find("nested too deeply"), std::string::npos);
  EXPECT_EQ(Ok("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}"), "<Namespace {'self': <Namespace {...}>}>");
  std::string deep_json = std::string(100000, '[') + std::string(100000, ']');
  json v = kVars;
  v["deep"] = json::parse(deep_json);
  EXPECT_FALSE(R("{{ deep }}", v).ok());
}

TEST(Jinja, ArbitraryBytesNeverCrash) {
  // A cheap in-test fuzz: mutated real templates and random token soup must parse or fail cleanly.
  const std::string seeds[] = {
      "{% for m in messages %}{% if m.role == 'user' %}{{ m.content | trim }}{% endif %}{% endfor %}",
      "{%- set ns = namespace(a=[]) -%}{{ ns.a + [1] }}{{ (d | tojson(indent=2))[1:5] }}{{ '%s' % l }}",
      "{% macro f(x, y=2) %}{{ x ~ y }}{% endmacro %}{{ f(1) }}{% call f(3) %}c{% endcall %}",
  };
  const std::string alphabet = "{}%#-+()[]'\"|.,:=~*/ \n\tabcdefxy0123456789_\\é";
  uint64_t state = 12345;
  auto next = [&] { return state = state * 6364136223846793005ull + 1442695040888963407ull, state >> 33; };
  RenderLimits lim;
  lim.max_steps = 20000;
  lim.max_output_bytes = 1 << 16;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = seeds[next() % 3];
    int edits = 1 + next() % 6;
    for (int k = 0; k < edits; ++k) {
      size_t pos = next() % (s.size() + 1);
      switch (next() % 3) {
        case 0:
          s.insert(pos, 1, alphabet[next() % alphabet.size()]);
          break;
        case 1:
          if (pos < s.size()) s.erase(pos, 1);
          break;
        default:
          if (pos < s.size()) s[pos] = static_cast<char>(next() % 256);
          break;
      }
    }
    (void)R(s, kVars, lim);
  }
}

TEST(Jinja, OneTemplateRendersConcurrently) {
  auto t = Template::Parse(
      "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}<{{ m.role }}:{{ m.content }}>"
      "{% endfor %}{{ ns.n }}{{ tools | tojson }}");
  ASSERT_TRUE(t.ok());
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      json v = kVars;
      v["messages"].push_back({{"role", "user"}, {"content", std::to_string(i)}});
      for (int k = 0; k < 200; ++k) {
        auto r = t->RenderJson(v);
        const std::string want =
            "<system:S><user:Hi 你好><assistant:<think>x</think>Yo><user:" + std::to_string(i) + ">4null";
        if (r.ok() && r.value() == want) ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 8 * 200);
}

}  // namespace
}  // namespace qs::jinja
