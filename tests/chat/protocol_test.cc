// Chat protocols: which family each released template is, what the thinking switch does to the
// generation prompt, and the tool-call parsers of every syntax (V3, V3.1, V3.2 DSML) on crafted
// streams split at every byte boundary, and on what the templates themselves render.
#include "chat/protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/output.h"
#include "chat/tool_calls.h"
#include "testutil.h"

namespace qs::chat {
namespace {

using ojson = nlohmann::ordered_json;

std::string Template(const std::string& name) {
  return test::ReadFileOrDie(test::FixturesDir() + "/chat-templates/" + name);
}
ModelChatTemplate Mct(const std::string& name) {
  ModelChatTemplate m;
  m.source = Template(name);
  m.bos_token = "<｜begin▁of▁sentence｜>";
  m.eos_token = "<｜end▁of▁sentence｜>";
  return m;
}

TEST(ChatProtocol, DetectsEachReleasedTemplate) {
  QS_REQUIRE_FIXTURES();
  struct Case {
    const char* file;
    const char* arch;  // the architecture spec's chat family
    ChatFamily family;
  } cases[] = {
      {"deepseek-v3.jinja", "deepseek-v3", ChatFamily::kDeepSeekV3},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek-r1-distill", ChatFamily::kR1Distill},
      {"deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja", "deepseek-r1-distill", ChatFamily::kR1Distill},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", "deepseek-v3", ChatFamily::kDeepSeekR1},
      {"llama-cpp-deepseek-r1.jinja", "deepseek-v3", ChatFamily::kDeepSeekR1},
      {"deepseek-ai-DeepSeek-V3.1.jinja", "deepseek-v3", ChatFamily::kDeepSeekV31},
      {"deepseek-ai-DeepSeek-V3.2.jinja", "deepseek-v3.2", ChatFamily::kDeepSeekV32},
      // V4 is told by its template alone (DSML inside "tool_calls"), whatever the spec says.
      {"deepseek-ai-DeepSeek-V4.jinja", "", ChatFamily::kDeepSeekV4},
      {"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", "deepseek-v3", ChatFamily::kDeepSeekV4},
      {"Qwen-Qwen2.5-7B-Instruct.jinja", "deepseek-r1-distill", ChatFamily::kGeneric},
  };
  for (const auto& c : cases) {
    ChatProtocol p = DetectChatProtocol(Mct(c.file), c.arch);
    EXPECT_EQ(p.family, c.family) << c.file << " " << c.arch << " -> " << p.name;
  }
  ChatProtocol v32 = DetectChatProtocol(Mct("deepseek-ai-DeepSeek-V3.2.jinja"));
  EXPECT_EQ(v32.tools, ToolSyntax::kDsml);
  EXPECT_EQ(v32.thinking_variable, "thinking");
  EXPECT_FALSE(v32.always_reasons);
  ChatProtocol v4 = DetectChatProtocol(Mct("deepseek-ai-DeepSeek-V4.jinja"));
  EXPECT_EQ(v4.name, "deepseek-v4");
  EXPECT_EQ(v4.tools, ToolSyntax::kDsml);
  EXPECT_EQ(v4.dsml_block, "tool_calls");
  EXPECT_EQ(v4.thinking_variable, "thinking");
  EXPECT_FALSE(v4.always_reasons);
  EXPECT_EQ(DetectChatProtocol(Mct("deepseek-ai-DeepSeek-V3.1.jinja")).tools, ToolSyntax::kV31);
  EXPECT_TRUE(DetectChatProtocol(Mct("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja")).always_reasons);
  EXPECT_FALSE(DetectChatProtocol(Mct("deepseek-v3.jinja")).has_thinking_switch());
  // The built-in fallback is V3's template.
  ModelChatTemplate fb;
  fb.source = kFallbackChatTemplate;
  EXPECT_EQ(DetectChatProtocol(fb).family, ChatFamily::kDeepSeekV3);
}

// What the generation prompt ends with in each thinking mode, and whether the answer then starts
// as reasoning (the fixture README: V3.1 "</think>" / "<think>", V3.2 "<think></think>" / "<think>").
TEST(ChatProtocol, ThinkingSwitchReachesTheTemplate) {
  QS_REQUIRE_FIXTURES();
  const ojson msgs = ojson::parse(R"([{"role": "user", "content": "Hi"}])");
  struct Case {
    const char* file;
    std::optional<bool> thinking;
    const char* ends_with;
    bool in_think;
  } cases[] = {
      {"deepseek-ai-DeepSeek-V3.2.jinja", true, "<｜User｜>Hi<｜Assistant｜><think>", true},
      {"deepseek-ai-DeepSeek-V3.2.jinja", false, "<｜User｜>Hi<｜Assistant｜><think></think>", false},
      {"deepseek-ai-DeepSeek-V3.2.jinja", std::nullopt, "<｜Assistant｜><think></think>", false},
      {"deepseek-ai-DeepSeek-V3.1.jinja", true, "<｜User｜>Hi<｜Assistant｜><think>", true},
      {"deepseek-ai-DeepSeek-V4.jinja", true, "<｜User｜>Hi<｜Assistant｜><think>", true},
      {"deepseek-ai-DeepSeek-V4.jinja", false, "<｜User｜>Hi<｜Assistant｜></think>", false},
      {"deepseek-ai-DeepSeek-V4.jinja", std::nullopt, "<｜User｜>Hi<｜Assistant｜></think>", false},
      {"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", true, "<｜User｜>Hi<｜Assistant｜><think>", true},
      {"deepseek-ai-DeepSeek-V4-Flash-0731.jinja", false, "<｜User｜>Hi<｜Assistant｜></think>", false},
      {"deepseek-ai-DeepSeek-V3.1.jinja", false, "<｜User｜>Hi<｜Assistant｜></think>", false},
      {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", false, "<｜Assistant｜><think>\n", true},
      {"deepseek-v3.jinja", true, "<｜User｜>Hi<｜Assistant｜>", false},
  };
  for (const auto& c : cases) {
    ModelChatTemplate mct = Mct(c.file);
    ChatProtocol p = DetectChatProtocol(mct);
    auto t = ChatTemplate::Compile(mct.source);
    ASSERT_TRUE(t.ok());
    ChatRenderOptions ro;
    ro.add_generation_prompt = true;
    ro.bos_token = mct.bos_token;
    ro.extra_context = p.TemplateVars(c.thinking, "", nullptr);
    auto r = t->Render(msgs, nullptr, ro);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const std::string want = c.ends_with;
    EXPECT_TRUE(r->size() >= want.size() && r->substr(r->size() - want.size()) == want) << c.file << ": " << *r;
    EXPECT_EQ(p.EndsInThink(*r), c.in_think) << c.file << ": " << *r;
  }
  // chat_template_kwargs come last, so a client's explicit variable wins over the switch.
  ChatProtocol v32 = ProtocolFor(ChatFamily::kDeepSeekV32);
  ojson vars = v32.TemplateVars(false, "high", ojson{{"thinking", true}, {"x", 1}});
  EXPECT_EQ(vars.dump(), R"({"thinking":true,"reasoning_effort":"high","x":1})");
  EXPECT_EQ(ProtocolFor(ChatFamily::kDeepSeekV3).TemplateVars(true, "", nullptr).dump(), "{}");
}

// V4's reasoning_effort: "max" (V4) and "high" / "max" (V4-Flash-0731) put an instruction before
// the system prompt, only with thinking on; other values change nothing.
TEST(ChatProtocol, V4ReasoningEffortReachesTheTemplate) {
  QS_REQUIRE_FIXTURES();
  const ojson msgs = ojson::parse(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}])");
  auto render = [&](const char* file, std::optional<bool> thinking, const std::string& effort) {
    ModelChatTemplate mct = Mct(file);
    ChatProtocol p = DetectChatProtocol(mct);
    auto t = ChatTemplate::Compile(mct.source);
    EXPECT_TRUE(t.ok());
    ChatRenderOptions ro;
    ro.add_generation_prompt = true;
    ro.bos_token = mct.bos_token;
    ro.extra_context = p.TemplateVars(thinking, effort, nullptr);
    auto r = t->Render(msgs, nullptr, ro);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::string();
  };
  const std::string bos = "<｜begin▁of▁sentence｜>", effort = "Reasoning Effort: ";
  const char* v4 = "deepseek-ai-DeepSeek-V4.jinja";
  const char* flash = "deepseek-ai-DeepSeek-V4-Flash-0731.jinja";
  EXPECT_EQ(render(v4, true, "max").rfind(bos + effort + "Absolute maximum", 0), 0u);
  EXPECT_EQ(render(v4, true, "high"), bos + "S<｜User｜>Hi<｜Assistant｜><think>");
  EXPECT_EQ(render(v4, false, "max"), bos + "S<｜User｜>Hi<｜Assistant｜></think>");
  EXPECT_EQ(render(flash, true, "high").rfind(bos + effort + "Absolute maximum", 0), 0u);
  EXPECT_EQ(render(flash, true, "max").rfind(bos + effort + "Beyond maximum", 0), 0u);
  EXPECT_EQ(render(flash, true, "low"), bos + "S<｜User｜>Hi<｜Assistant｜><think>");
}

struct Parsed {
  std::string content;
  std::vector<ToolCall> streamed;  // TakeCompleted along the way, then what Finish adds
  std::vector<ToolCall> all;       // Finish's list
};

Parsed Feed(const ChatProtocol& p, const std::vector<std::string>& pieces) {
  ToolCallParser parser(p.tools, p.dsml_block);
  Parsed r;
  for (const auto& s : pieces) {
    r.content += parser.Push(s);
    for (auto& c : parser.TakeCompleted()) r.streamed.push_back(c);
  }
  r.content += parser.Finish(&r.all);
  for (size_t i = r.streamed.size(); i < r.all.size(); ++i) r.streamed.push_back(r.all[i]);
  return r;
}

void ExpectSame(const std::vector<ToolCall>& a, const std::vector<ToolCall>& b, const std::string& where) {
  ASSERT_EQ(a.size(), b.size()) << where;
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id) << where;
    EXPECT_EQ(a[i].name, b[i].name) << where;
    EXPECT_EQ(a[i].arguments, b[i].arguments) << where;
  }
}

// Whole, byte by byte, and split in two at every byte: the same content and calls.
void ExpectSplitInvariant(const ChatProtocol& p, const std::string& text, const Parsed& want) {
  std::vector<std::vector<std::string>> feeds = {{text}};
  std::vector<std::string> bytes;
  for (char c : text) bytes.emplace_back(1, c);
  feeds.push_back(bytes);
  for (size_t k = 0; k <= text.size(); ++k) feeds.push_back({text.substr(0, k), text.substr(k)});
  for (const auto& f : feeds) {
    Parsed r = Feed(p, f);
    std::string where = p.name + " split into " + std::to_string(f.size()) + " pieces, first " + std::to_string(f[0].size());
    EXPECT_EQ(r.content, want.content) << where;
    ExpectSame(r.all, want.all, where);
    ExpectSame(r.streamed, want.all, where);
  }
}

TEST(ToolCallSyntax, DsmlCalls) {
  const std::string text =
      "Let me check.\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
      "<｜DSML｜parameter name=\"city\" string=\"true\">杭州 \"West Lake\"</｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"days\" string=\"false\">3</｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"opts\" string=\"false\">{\"unit\": \"C\", \"hours\": [6, 12]}</｜DSML｜parameter>\n"
      "</｜DSML｜invoke>\n<｜DSML｜invoke name=\"get_time\">\n</｜DSML｜invoke>\n</｜DSML｜function_calls>";
  ChatProtocol p = ProtocolFor(ChatFamily::kDeepSeekV32);
  Parsed whole = Feed(p, {text});
  EXPECT_EQ(whole.content, "Let me check.");
  ASSERT_EQ(whole.all.size(), 2u);
  EXPECT_EQ(whole.all[0].id, "call_0");
  EXPECT_EQ(whole.all[0].name, "get_weather");
  EXPECT_EQ(ojson::parse(whole.all[0].arguments),
            ojson::parse(R"({"city": "杭州 \"West Lake\"", "days": 3, "opts": {"unit": "C", "hours": [6, 12]}})"));
  EXPECT_EQ(whole.all[0].arguments.find("杭州"), 9u);   // UTF-8 kept, not \u-escaped
  EXPECT_EQ(whole.all[1].name, "get_time");
  EXPECT_EQ(whole.all[1].arguments, "{}");
  ExpectSplitInvariant(p, text, whole);
}

TEST(ToolCallSyntax, DsmlEdgeCases) {
  ChatProtocol p = ProtocolFor(ChatFamily::kDeepSeekV32);
  // No markup: everything is content, trailing whitespace included.
  Parsed plain = Feed(p, {"a <｜DSML｜fun", "ny\n\n"});
  EXPECT_EQ(plain.content, "a <｜DSML｜funny\n\n");
  EXPECT_TRUE(plain.all.empty());
  // Cut off inside a parameter (max_tokens): the call with the parameters that closed.
  Parsed cut = Feed(p, {"<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"f\">\n<｜DSML｜parameter name=\"a\" "
                       "string=\"false\">1</｜DSML｜parameter>\n<｜DSML｜parameter name=\"b\" string=\"true\">x"});
  EXPECT_EQ(cut.content, "");
  ASSERT_EQ(cut.all.size(), 1u);
  EXPECT_EQ(cut.all[0].arguments, R"({"a":1})");
  // A non-JSON value marked string="false" is kept as a string rather than lost.
  auto calls = ToolCallParser::ParseDsml(
      "<｜DSML｜invoke name=\"g\">\n<｜DSML｜parameter name=\"q\" string=\"false\">not json</｜DSML｜parameter>\n"
      "</｜DSML｜invoke>");
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].arguments, R"({"q":"not json"})");
  // V4's block name.
  ChatProtocol v4 = p;
  v4.dsml_block = "tool_calls";
  Parsed r = Feed(v4, {"<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"h\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>"});
  ASSERT_EQ(r.all.size(), 1u);
  EXPECT_EQ(r.all[0].name, "h");
}

TEST(ToolCallSyntax, V3AndV31SplitAnywhere) {
  const std::string v3 =
      "Sure.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
      "{\"location\": \"Hangzhou\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n"
      "```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  ChatProtocol p3 = ProtocolFor(ChatFamily::kDeepSeekV3);
  Parsed w3 = Feed(p3, {v3});
  EXPECT_EQ(w3.content, "Sure.");
  ASSERT_EQ(w3.all.size(), 2u);
  EXPECT_EQ(w3.all[0].arguments, "{\"location\": \"Hangzhou\"}");
  ExpectSplitInvariant(p3, v3, w3);
  ExpectSplitInvariant(ProtocolFor(ChatFamily::kDeepSeekR1), v3, w3);

  const std::string v31 =
      "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>search<｜tool▁sep｜>{\"q\": \"x\"}<｜tool▁call▁end｜>"
      "<｜tool▁call▁begin｜>open<｜tool▁sep｜>{\"id\": 2}<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  ChatProtocol p31 = ProtocolFor(ChatFamily::kDeepSeekV31);
  Parsed w31 = Feed(p31, {v31});
  EXPECT_EQ(w31.content, "");
  ASSERT_EQ(w31.all.size(), 2u);
  EXPECT_EQ(w31.all[1].name, "open");
  EXPECT_EQ(w31.all[1].arguments, "{\"id\": 2}");
  ExpectSplitInvariant(p31, v31, w31);
}

// The model is taught its syntax by its own template: an assistant turn with tool calls, as the
// template renders it, parses back into the same calls.
TEST(ToolCallSyntax, TemplateRendersParseBack) {
  QS_REQUIRE_FIXTURES();
  const ojson calls = ojson::parse(R"([
    {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"杭州\", \"days\": 3}"}},
    {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\": \"UTC+8\", \"fmt\": [1, true]}"}}])");
  for (const char* file : {"deepseek-v3.jinja", "deepseek-ai-DeepSeek-V3.1.jinja", "deepseek-ai-DeepSeek-V3.2.jinja",
                           "deepseek-ai-DeepSeek-V4.jinja", "deepseek-ai-DeepSeek-V4-Flash-0731.jinja"}) {
    ModelChatTemplate mct = Mct(file);
    ChatProtocol p = DetectChatProtocol(mct);
    ojson msgs = ojson::array({{{"role", "user"}, {"content", "Weather?"}},
                               {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", calls}}});
    ChatRenderOptions ro;
    ro.bos_token = mct.bos_token;
    auto r = RenderChatTemplate(mct.source, msgs, nullptr, ro);
    ASSERT_TRUE(r.ok()) << file << ": " << r.status().message();
    // The assistant's part: after the generation prompt the template wrote.
    size_t a = r->find("<｜Assistant｜>");
    ASSERT_NE(a, std::string::npos) << *r;
    std::string turn = r->substr(a + std::string("<｜Assistant｜>").size());
    if (turn.rfind("</think>", 0) == 0) turn = turn.substr(8);
    Parsed got = Feed(p, {turn});
    ASSERT_EQ(got.all.size(), 2u) << file << ": " << turn;
    for (size_t i = 0; i < 2; ++i) {
      EXPECT_EQ(got.all[i].name, calls[i]["function"]["name"]) << file;
      EXPECT_EQ(ojson::parse(got.all[i].arguments), ojson::parse(calls[i]["function"]["arguments"].get<std::string>()))
          << file << ": " << got.all[i].arguments;
    }
  }
}

// Forcing a call writes the opening the parser then completes from what the model adds.
TEST(ToolCallSyntax, ForcedOpeningParses) {
  ChatProtocol p = ProtocolFor(ChatFamily::kDeepSeekV32);
  Parsed r = Feed(p, {p.ForcedToolOpening("f"), "<｜DSML｜parameter name=\"x\" string=\"true\">1</｜DSML｜parameter>\n"
                                               "</｜DSML｜invoke>\n</｜DSML｜function_calls>"});
  ASSERT_EQ(r.all.size(), 1u);
  EXPECT_EQ(r.all[0].name, "f");
  EXPECT_EQ(r.all[0].arguments, R"({"x":"1"})");
  EXPECT_EQ(r.content, "");
  for (ChatFamily f : {ChatFamily::kDeepSeekV3, ChatFamily::kDeepSeekV31}) {
    ChatProtocol q = ProtocolFor(f);
    Parsed s = Feed(q, {q.ForcedToolOpening("g"), "{\"a\": 1}"});
    ASSERT_EQ(s.all.size(), 1u) << q.name;
    EXPECT_EQ(s.all[0].name, "g");
  }
}

// The whole output path of a V3.2 answer with thinking on: reasoning until </think>, then the
// content, then a DSML call streamed as a tool_calls delta; any split of the text gives the same.
TEST(OutputPipelineProtocol, V32ThinkingContentAndDsmlCall) {
  QS_REQUIRE_FIXTURES();
  auto tok = Tokenizer::Load(test::FixturesDir() + "/tokenizer/deepseek-v3");
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const std::string text =
      "The user wants weather.</think>\n\nChecking.\n\n<｜DSML｜function_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
      "<｜DSML｜parameter name=\"city\" string=\"true\">杭州</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜function_calls>";
  for (size_t k = 0; k <= text.size(); ++k) {
    OutputOptions oo;
    oo.protocol = ProtocolFor(ChatFamily::kDeepSeekV32);
    oo.prompt_in_think = true;  // the V3.2 prompt ended with "<think>" (thinking on)
    oo.parse_tools = true;
    OutputPipeline pipe(**tok, oo);
    OutputDelta all;
    auto add = [&](OutputDelta d) {
      all.reasoning += d.reasoning;
      all.content += d.content;
      for (auto& c : d.tool_calls) all.tool_calls.push_back(c);
    };
    add(pipe.PushText(text.substr(0, k)));
    add(pipe.PushText(text.substr(k)));
    std::vector<ToolCall> calls;
    add(pipe.Finish(&calls));
    EXPECT_EQ(all.reasoning, "The user wants weather.") << k;
    EXPECT_EQ(all.content, "Checking.") << k;
    ASSERT_EQ(all.tool_calls.size(), 1u) << k;  // handed out once, not again at Finish
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(all.tool_calls[0].name, "get_weather");
    EXPECT_EQ(all.tool_calls[0].arguments, R"({"city":"杭州"})");
  }
  // Thinking off: nothing is reasoning.
  OutputOptions oo;
  oo.protocol = ProtocolFor(ChatFamily::kDeepSeekV32);
  OutputPipeline pipe(**tok, oo);
  OutputDelta d = pipe.PushText("Hello there");
  std::vector<ToolCall> calls;
  OutputDelta f = pipe.Finish(&calls);
  EXPECT_EQ(d.reasoning + f.reasoning, "");
  EXPECT_EQ(d.content + f.content, "Hello there");
}

// V4's answer with thinking on: reasoning until </think>, content, then the call in V4's
// <｜DSML｜tool_calls> block (V3.2's function_calls block is not V4's: it stays content).
TEST(OutputPipelineProtocol, V4ThinkingContentAndDsmlCall) {
  QS_REQUIRE_FIXTURES();
  auto tok = Tokenizer::Load(test::FixturesDir() + "/tokenizer/deepseek-v3");
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const std::string text =
      "Need data.</think>Checking.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"get_weather\">\n"
      "<｜DSML｜parameter name=\"city\" string=\"true\">杭州</｜DSML｜parameter>\n"
      "<｜DSML｜parameter name=\"days\" string=\"false\">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  for (size_t k = 0; k <= text.size(); k += 7) {
    OutputOptions oo;
    oo.protocol = ProtocolFor(ChatFamily::kDeepSeekV4);
    oo.prompt_in_think = true;  // the V4 prompt ended with "<think>"
    oo.parse_tools = true;
    OutputPipeline pipe(**tok, oo);
    OutputDelta a = pipe.PushText(text.substr(0, k)), b = pipe.PushText(text.substr(k));
    std::vector<ToolCall> calls;
    OutputDelta f = pipe.Finish(&calls);
    EXPECT_EQ(a.reasoning + b.reasoning + f.reasoning, "Need data.") << k;
    EXPECT_EQ(a.content + b.content + f.content, "Checking.") << k;
    ASSERT_EQ(calls.size(), 1u) << k;
    EXPECT_EQ(calls[0].name, "get_weather");
    EXPECT_EQ(calls[0].arguments, R"({"city":"杭州","days":2})");
  }
  OutputOptions oo;
  oo.protocol = ProtocolFor(ChatFamily::kDeepSeekV4);
  oo.parse_tools = true;
  OutputPipeline pipe(**tok, oo);
  OutputDelta d = pipe.PushText("x<｜DSML｜function_calls>y");
  std::vector<ToolCall> calls;
  OutputDelta f = pipe.Finish(&calls);
  EXPECT_TRUE(calls.empty());
  EXPECT_EQ(d.content + f.content, "x<｜DSML｜function_calls>y");
}

}  // namespace
}  // namespace qs::chat
