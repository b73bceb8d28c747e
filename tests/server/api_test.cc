// Request validation: 400 for malformed bodies and wrong types, 422 for values out of range.
#include "server/api.h"

#include <gtest/gtest.h>

namespace qs::server {
namespace {

int ChatStatus(const std::string& body) {
  ChatRequest r;
  auto e = ParseChatRequest(body, &r);
  return e ? e->status : 200;
}

TEST(Api, ChatValidation) {
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  EXPECT_EQ(ChatStatus("{" + msgs + "}"), 200);
  EXPECT_EQ(ChatStatus("{"), 400);
  EXPECT_EQ(ChatStatus("[]"), 400);
  EXPECT_EQ(ChatStatus("{}"), 400);
  EXPECT_EQ(ChatStatus(R"({"messages":"hi"})"), 400);
  EXPECT_EQ(ChatStatus(R"({"messages":[]})"), 422);
  EXPECT_EQ(ChatStatus(R"({"messages":[{"role":"wizard","content":"x"}]})"), 422);
  EXPECT_EQ(ChatStatus(R"({"messages":[{"role":"user","content":5}]})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"temperature":"hot"})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"temperature":2.5})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"top_p":1.5})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"max_tokens":0})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"max_tokens":1.5})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"stop":[1]})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"stop":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"top_logprobs":3})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logprobs":true,"top_logprobs":21})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"response_format":{"type":"xml"}})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"response_format":"json"})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"tool_choice":"required"})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"stream":"yes"})"), 400);
  EXPECT_EQ(ChatStatus(R"({"messages":[{"role":"assistant","content":"x","prefix":true},{"role":"user","content":"y"}]})"), 422);
  // One choice per request.
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"n":1})"), 200);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"n":2})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"n":"two"})"), 400);
  // Ranges at their edges.
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logprobs":true,"top_logprobs":20})"), 200);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logprobs":true,"top_logprobs":-1})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"stop":["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p"]})"), 200);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"frequency_penalty":-2,"presence_penalty":2,"min_p":1,"top_k":0})"), 200);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"frequency_penalty":2.5})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"presence_penalty":-3})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"min_p":-0.1})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"top_k":-1})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"seed":"x"})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"stream_options":true})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"model":5})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"tool_choice":"sometimes","tools":[{"type":"function","function":{"name":"f"}}]})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"tools":[{"type":"function"}]})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs +
                       R"(,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}})"),
            422);
  EXPECT_EQ(ChatStatus(R"({"messages":[{"role":"tool","content":"x"}]})"), 400);  // no tool_call_id
  EXPECT_EQ(ChatStatus(R"({"messages":[{"role":"user","content":"q","name":"ann"}]})"), 200);
}

TEST(Api, ChatFields) {
  ChatRequest r;
  auto e = ParseChatRequest(R"({"model":"m","messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
    {"role":"user","content":"q"},{"role":"assistant","content":"Sure,","prefix":true}],
    "temperature":0,"seed":5,"stop":"x","stream":true,"stream_options":{"include_usage":true},
    "tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":{"type":"function","function":{"name":"f"}},
    "response_format":{"type":"json_object"},"logprobs":true,"top_logprobs":2})", &r);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0]["content"], "ab");
  EXPECT_TRUE(r.prefix);
  EXPECT_EQ(r.prefix_text, "Sure,");
  EXPECT_TRUE(r.gen.temperature_set);
  EXPECT_EQ(r.gen.sampling.temperature, 0.0f);
  EXPECT_TRUE(r.gen.sampling.has_seed);
  EXPECT_EQ(r.gen.stop, std::vector<std::string>{"x"});
  EXPECT_TRUE(r.gen.stream && r.gen.include_usage && r.json_mode && r.forced_tool && r.gen.logprobs);
  EXPECT_EQ(r.tool_choice, "f");
  EXPECT_EQ(r.gen.top_logprobs, 2);
}

TEST(Api, SamplingDefaults) {
  ChatRequest r;
  ASSERT_FALSE(ParseChatRequest(R"({"messages":[{"role":"user","content":"q"}]})", &r));
  GenOptions reasoning = r.gen, plain = r.gen;
  ApplySamplingDefaults(&reasoning, true);
  EXPECT_FLOAT_EQ(reasoning.sampling.temperature, 0.6f);  // DeepSeek-R1's recommendation
  EXPECT_FLOAT_EQ(reasoning.sampling.top_p, 0.95f);
  ApplySamplingDefaults(&plain, false);
  EXPECT_FLOAT_EQ(plain.sampling.temperature, 1.0f);
  EXPECT_FLOAT_EQ(plain.sampling.top_p, 1.0f);
  ChatRequest set;  // what the request says wins
  ASSERT_FALSE(ParseChatRequest(R"({"messages":[{"role":"user","content":"q"}],"temperature":0,"top_p":0.5})", &set));
  ApplySamplingDefaults(&set.gen, true);
  EXPECT_EQ(set.gen.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(set.gen.sampling.top_p, 0.5f);
}

TEST(Api, CompletionValidation) {
  CompletionRequest r;
  EXPECT_FALSE(ParseCompletionRequest(R"({"prompt":"def f(","suffix":"return 1","max_tokens":4,"echo":true,"logprobs":2})", &r));
  EXPECT_EQ(r.suffix, "return 1");
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.gen.top_logprobs, 2);
  CompletionRequest r2;
  EXPECT_EQ(ParseCompletionRequest(R"({"prompt":5})", &r2)->status, 400);
  EXPECT_EQ(ParseCompletionRequest(R"({"prompt":"x","logprobs":30})", &r2)->status, 422);
}

TEST(Api, ErrorShape) {
  ApiError e;
  e.status = 422;
  e.message = "m";
  e.param = "temperature";
  auto j = e.ToJson();
  EXPECT_EQ(j["error"]["message"], "m");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"].contains("code"));
  ApiError f;
  EXPECT_TRUE(f.ToJson()["error"]["param"].is_null());
}

// The thinking switch: DeepSeek's "thinking" object, "reasoning_effort", chat_template_kwargs.
TEST(Api, ThinkingFields) {
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  ChatRequest r;
  ASSERT_FALSE(ParseChatRequest("{" + msgs + "}", &r));
  EXPECT_FALSE(r.thinking.has_value());
  EXPECT_TRUE(r.template_kwargs.is_null());
  ChatRequest on;
  ASSERT_FALSE(ParseChatRequest("{" + msgs + R"(,"thinking":{"type":"enabled"}})", &on));
  EXPECT_EQ(on.thinking, std::optional<bool>(true));
  ChatRequest off;
  ASSERT_FALSE(ParseChatRequest("{" + msgs + R"(,"thinking":{"type":"disabled"},"reasoning_effort":"high"})", &off));
  EXPECT_EQ(off.thinking, std::optional<bool>(false));  // the explicit switch wins over the effort
  EXPECT_EQ(off.reasoning_effort, "high");
  ChatRequest effort;
  ASSERT_FALSE(ParseChatRequest("{" + msgs + R"(,"reasoning_effort":"low"})", &effort));
  EXPECT_EQ(effort.thinking, std::optional<bool>(true));
  ChatRequest none;
  ASSERT_FALSE(ParseChatRequest("{" + msgs + R"(,"reasoning_effort":"none"})", &none));
  EXPECT_EQ(none.thinking, std::optional<bool>(false));
  ChatRequest kw;
  ASSERT_FALSE(ParseChatRequest("{" + msgs + R"(,"chat_template_kwargs":{"thinking":true,"x":[1]}})", &kw));
  EXPECT_EQ(kw.template_kwargs.dump(), R"({"thinking":true,"x":[1]})");
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"thinking":true})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"thinking":{"type":"maybe"}})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"reasoning_effort":3})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"reasoning_effort":"extreme"})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"chat_template_kwargs":[1]})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"chat_template_kwargs":{"messages":[]}})"), 422);
}

// A value nested deeper than the limit anywhere in the body is refused before parsing: the DOM
// and the template renderer recurse per level, so 10^5 levels would overflow the stack.
TEST(Api, NestingDepthIsBounded) {
  EXPECT_EQ(JsonNestingDepth(R"({"a":[1,{"b":[]}]})", 100), 4);
  EXPECT_EQ(JsonNestingDepth(R"({"a":"[[[[{{{{\"[["})", 100), 1);  // brackets inside strings do not count
  EXPECT_EQ(JsonNestingDepth(std::string(100000, '['), 10), 11);     // stops counting once over
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  for (const std::string& body :
       {R"({"messages":[{"role":"user","content":)" + deep + "}]}",
        R"({"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":)" +
            deep + "}}]}",
        R"({"messages":[{"role":"user","content":"hi"}],"metadata":)" + deep + "}"}) {
    ChatRequest r;
    auto e = ParseChatRequest(body, &r);
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->status, 400);
    EXPECT_EQ(e->type, "invalid_request_error");
    EXPECT_NE(e->message.find("128"), std::string::npos) << e->message;
    CompletionRequest c;
    EXPECT_EQ(ParseCompletionRequest(R"({"prompt":"x","extra":)" + deep + "}", &c).value_or(ApiError{}).status, 400);
  }
  // At the limit it parses; one level more does not. The limit is the caller's (--max-json-depth).
  auto nested = [](int levels) {  // the body itself is level 1, messages 2, the message 3
    std::string v = "1";
    for (int i = 3; i < levels; ++i) v = "[" + v + "]";
    return R"({"messages":[{"role":"user","content":"hi","x":)" + v + "}]}";
  };
  ChatRequest r;
  EXPECT_FALSE(ParseChatRequest(nested(128), &r).has_value());
  EXPECT_EQ(ParseChatRequest(nested(129), &r).value_or(ApiError{}).status, 400);
  EXPECT_FALSE(ParseChatRequest(nested(8), &r, 8).has_value());
  EXPECT_EQ(ParseChatRequest(nested(9), &r, 8).value_or(ApiError{}).status, 400);
  // `user` (the prefix-cache namespace) must be a string.
  EXPECT_EQ(ChatStatus(R"({"messages":[{"role":"user","content":"hi"}],"user":5})"), 400);
  ASSERT_FALSE(ParseChatRequest(R"({"messages":[{"role":"user","content":"hi"}],"user":"u1"})", &r).has_value());
  EXPECT_EQ(r.user, "u1");
}

// response_format json_schema, strict tools, parallel_tool_calls, logit_bias, a reasoning prefix.
TEST(Api, StructuredOutputAndToolFields) {
  const std::string msgs = R"("messages":[{"role":"user","content":"hi"}])";
  auto parse = [](const std::string& body, ChatRequest* r) { return ParseChatRequest(body, r); };
  ChatRequest r;
  EXPECT_FALSE(parse("{" + msgs + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"p","strict":true,
      "schema":{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"],"additionalProperties":false}}}})", &r));
  EXPECT_TRUE(r.json_mode);
  EXPECT_EQ(r.json_schema["properties"]["a"]["type"], "integer");
  // An unsupported keyword is a 400 that names it.
  ChatRequest bad;
  auto e = parse("{" + msgs + R"(,"response_format":{"type":"json_schema","json_schema":{"name":"p",
      "schema":{"type":"object","properties":{"a":{"type":"string","pattern":"^x"}}}}}})", &bad);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, "response_format");
  EXPECT_NE(e->message.find("'pattern'"), std::string::npos) << e->message;
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"response_format":{"type":"json_schema"}})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"response_format":{"type":"json_schema","json_schema":{"schema":5}}})"), 400);
  // strict tools: their schema is checked; a non-strict tool's is not.
  const std::string tool = R"("tools":[{"type":"function","function":{"name":"f","strict":true,"parameters":)";
  EXPECT_EQ(ChatStatus("{" + msgs + "," + tool + R"({"type":"object","properties":{"x":{"type":"string"}}}}}]})"), 200);
  ChatRequest bt;
  e = parse("{" + msgs + "," + tool + R"({"type":"object","properties":{"x":{"type":"string","format":"uri"}}}}}]})", &bt);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->param, "tools");
  EXPECT_NE(e->message.find("'format'"), std::string::npos) << e->message;
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"x":{"format":"uri"}}}}}]})"), 200);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"tools":[{"type":"function","function":{"name":"f","strict":"yes"}}]})"), 400);
  ChatRequest pt;
  EXPECT_FALSE(parse("{" + msgs + R"(,"parallel_tool_calls":false})", &pt));
  EXPECT_FALSE(pt.parallel_tool_calls);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"parallel_tool_calls":"no"})"), 400);
  // logit_bias: token-id keys, biases in [-100, 100].
  ChatRequest lb;
  EXPECT_FALSE(parse("{" + msgs + R"(,"logit_bias":{"15":-100,"7":2.5}})", &lb));
  ASSERT_EQ(lb.gen.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(lb.gen.sampling.logit_bias[0].first, 15);
  EXPECT_FLOAT_EQ(lb.gen.sampling.logit_bias[0].second, -100.0f);
  EXPECT_FALSE(CheckLogitBias(lb.gen, 16));
  auto oov = CheckLogitBias(lb.gen, 10);
  ASSERT_TRUE(oov);
  EXPECT_EQ(oov->status, 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logit_bias":{"15":101}})"), 422);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logit_bias":{"abc":1}})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logit_bias":{"-3":1}})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logit_bias":{"3":"x"}})"), 400);
  EXPECT_EQ(ChatStatus("{" + msgs + R"(,"logit_bias":[1]})"), 400);
  CompletionRequest cr;
  EXPECT_FALSE(ParseCompletionRequest(R"({"prompt":"x","logit_bias":{"3":1}})", &cr));
  EXPECT_EQ(cr.gen.sampling.logit_bias.size(), 1u);
  // DeepSeek's reasoning prefix: reasoning_content on the prefix message.
  ChatRequest rp;
  EXPECT_FALSE(parse(R"({"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"","reasoning_content":"Let me think","prefix":true}]})", &rp));
  EXPECT_TRUE(rp.prefix);
  EXPECT_EQ(rp.prefix_reasoning, "Let me think");
}

}  // namespace
}  // namespace qs::server
