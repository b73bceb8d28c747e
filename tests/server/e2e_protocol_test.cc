// End-to-end chat protocols: a tiny model serving DeepSeek-V3.2's released template (DSML tool
// calls, the `thinking` switch). The thinking switch reaches the template through the API
// (thinking / reasoning_effort / chat_template_kwargs) and decides whether the answer starts as
// reasoning; a forced tool call comes back as OpenAI `tool_calls`, streamed and not; earlier
// calls and tool results render through the template.
#include <httplib.h>

#include <gtest/gtest.h>

#include "e2e_util.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;

struct Env {
  std::string model, error;
  std::unique_ptr<ServerProcess> server;
};
Env* env = nullptr;

class E2EProtocol : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (FixturesDir().empty()) return;
    env = new Env;
    env->error = SharedTinyModel("v32", FixturesDir() + "/chat-templates/deepseek-ai-DeepSeek-V3.2.jinja", &env->model);
  }
  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    ASSERT_TRUE(env && env->error.empty()) << (env ? env->error : "no env");
    if (!env->server) {
      env->server = std::make_unique<ServerProcess>();
      std::string err;
      ASSERT_TRUE(env->server->Start(env->model, {"--ctx", "1024"}, &err)) << err;
    }
  }
  static json Post(const json& body, int* status) {
    httplib::Client cli("127.0.0.1", env->server->port());
    cli.set_read_timeout(60, 0);
    auto r = cli.Post("/v1/chat/completions", body.dump(), "application/json");
    if (!r) {
      *status = -1;
      return json();
    }
    *status = r->status;
    if (body.value("stream", false) && r->status == 200) return json{{"sse", r->body}};
    return json::parse(r->body, nullptr, false);
  }
  static json Chat(json extra = json::object()) {
    json b = {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", "Weather in Hangzhou?"}}})},
              {"max_tokens", 4}, {"temperature", 0}};
    b.update(extra);
    return b;
  }
};

TEST_F(E2EProtocol, ThinkingSwitchChangesThePromptAndTheSplit) {
  int st = 0;
  json off = Post(Chat(), &st);  // V3.2's default: thinking off, "<think></think>" closes it at once
  ASSERT_EQ(st, 200) << off.dump();
  json on = Post(Chat({{"thinking", {{"type", "enabled"}}}}), &st);
  ASSERT_EQ(st, 200) << on.dump();
  json disabled = Post(Chat({{"thinking", {{"type", "disabled"}}}}), &st);
  ASSERT_EQ(st, 200);
  // The prompts differ by the closing </think> of the generation prompt.
  const int64_t p_off = off["usage"]["prompt_tokens"], p_on = on["usage"]["prompt_tokens"];
  EXPECT_GT(p_off, p_on);
  EXPECT_EQ(disabled["usage"]["prompt_tokens"], p_off);
  // Thinking on: the answer starts as reasoning (random weights never close it).
  const json& m_on = on["choices"][0]["message"];
  ASSERT_TRUE(m_on.contains("reasoning_content")) << on.dump();
  EXPECT_EQ(m_on["content"], "");
  EXPECT_GT(on["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int64_t>(), 0);
  // Thinking off: no reasoning part at all.
  EXPECT_FALSE(off["choices"][0]["message"].contains("reasoning_content")) << off.dump();
  EXPECT_EQ(off["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);
  // The same switch through reasoning_effort and through chat_template_kwargs.
  json effort = Post(Chat({{"reasoning_effort", "high"}}), &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(effort["usage"]["prompt_tokens"], p_on);
  EXPECT_TRUE(effort["choices"][0]["message"].contains("reasoning_content"));
  json kw = Post(Chat({{"chat_template_kwargs", {{"thinking", true}}}}), &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(kw["usage"]["prompt_tokens"], p_on);
  EXPECT_TRUE(kw["choices"][0]["message"].contains("reasoning_content"));
  Post(Chat({{"chat_template_kwargs", {{"messages", json::array()}}}}), &st);
  EXPECT_EQ(st, 422);
  // Streamed with thinking on: the first delta announces reasoning_content, the text goes there.
  json s = Post(Chat({{"thinking", {{"type", "enabled"}}}, {"stream", true}}), &st);
  ASSERT_EQ(st, 200);
  SseResult r = ParseSse(s["sse"]);
  ASSERT_TRUE(r.error.empty() && r.done);
  ASSERT_FALSE(r.events.empty());
  EXPECT_TRUE(r.events[0]["choices"][0]["delta"].contains("reasoning_content"));
  for (auto& e : r.events) {
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("content")) {
      EXPECT_EQ(e["choices"][0]["delta"]["content"], "") << e.dump();
    }
  }
}

TEST_F(E2EProtocol, DsmlToolCallsComeBackAsToolCalls) {
  json tools = json::array({{{"type", "function"},
                             {"function", {{"name", "get_weather"}, {"description", "Weather of a city"},
                                           {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}}});
  json body = Chat({{"tools", tools}, {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
  int st = 0;
  json a = Post(body, &st);
  ASSERT_EQ(st, 200) << a.dump();
  EXPECT_EQ(a["choices"][0]["finish_reason"], "length");  // issue 17: a call cut off by max_tokens is "length"
  const json& tc = a["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(tc.size(), 1u) << a.dump();
  EXPECT_EQ(tc[0]["type"], "function");
  EXPECT_EQ(tc[0]["id"], "call_0");
  EXPECT_EQ(tc[0]["function"]["name"], "get_weather");
  ASSERT_TRUE(tc[0]["function"]["arguments"].is_string());
  EXPECT_TRUE(json::parse(tc[0]["function"]["arguments"].get<std::string>()).is_object());
  // No DSML markup leaks into the content.
  EXPECT_TRUE(a["choices"][0]["message"]["content"].is_null() ||
              a["choices"][0]["message"]["content"].get<std::string>().find("DSML") == std::string::npos);
  body["stream"] = true;
  json s = Post(body, &st);
  ASSERT_EQ(st, 200);
  SseResult r = ParseSse(s["sse"]);
  ASSERT_TRUE(r.error.empty() && r.done);
  int deltas = 0;
  std::string finish;
  for (auto& e : r.events) {
    if (e["choices"].empty()) continue;
    const json& d = e["choices"][0]["delta"];
    if (d.contains("tool_calls")) {
      ++deltas;
      EXPECT_EQ(d["tool_calls"][0]["index"], 0);
      EXPECT_EQ(d["tool_calls"][0]["id"], "call_0");
      EXPECT_EQ(d["tool_calls"][0]["type"], "function");
      EXPECT_EQ(d["tool_calls"][0]["function"]["name"], "get_weather");
    }
    if (d.contains("content")) {
      EXPECT_EQ(d["content"].get<std::string>().find("DSML"), std::string::npos);
    }
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(deltas, 1);
  EXPECT_EQ(finish, "length");  // issue 17: a call cut off by max_tokens is "length"
  // An earlier call (OpenAI's JSON-string arguments) and its result render through the template
  // (which reads the arguments with from_json and writes DSML parameters and <function_results>).
  json follow = Chat({{"tools", tools}});
  json call = {{"id", "call_0"}, {"type", "function"},
               {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Hangzhou\"}"}}}};
  follow["messages"].push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array({call})}});
  follow["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "{\"temp\": 21}"}});
  json f = Post(follow, &st);
  ASSERT_EQ(st, 200) << f.dump();
  EXPECT_GT(f["usage"]["prompt_tokens"].get<int64_t>(), a["usage"]["prompt_tokens"].get<int64_t>());
}

}  // namespace
}  // namespace qs::test
