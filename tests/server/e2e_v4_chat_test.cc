// End-to-end V4 chat protocol: a tiny model serving DeepSeek-V4's released templates (V4 and
// V4-Flash-0731). Through the API: the thinking switch (generation prompt "<think>" vs "</think>"),
// reasoning_effort ("max", and "high" on Flash-0731, put an instruction in the prompt only with
// thinking on), a forced call in V4's DSML block (<｜DSML｜tool_calls>) comes back as OpenAI
// `tool_calls`, streamed and not, and a call + tool result (with the earlier reasoning_content)
// renders through the template.
#include <httplib.h>

#include <gtest/gtest.h>

#include <map>

#include "e2e_util.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;

struct Served {
  std::string model, error;
  std::unique_ptr<ServerProcess> server;
};
std::map<std::string, Served>* served = nullptr;

class E2EV4Chat : public ::testing::TestWithParam<std::string> {
 protected:
  static void TearDownTestSuite() {
    delete served;
    served = nullptr;
  }
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    if (!served) served = new std::map<std::string, Served>;
    Served& s = (*served)[GetParam()];
    if (s.model.empty() && s.error.empty())
      s.error = SharedTinyModel(GetParam() == "v4" ? "v4chat" : "v4flashchat",
                                FixturesDir() + "/chat-templates/" +
                                    (GetParam() == "v4" ? "deepseek-ai-DeepSeek-V4.jinja"
                                                        : "deepseek-ai-DeepSeek-V4-Flash-0731.jinja"),
                                &s.model);
    ASSERT_TRUE(s.error.empty()) << s.error;
    if (!s.server) {
      s.server = std::make_unique<ServerProcess>();
      std::string err;
      ASSERT_TRUE(s.server->Start(s.model, {"--ctx", "2048"}, &err)) << err;
    }
    port_ = s.server->port();
  }
  json Post(const json& body, int* status) const {
    httplib::Client cli("127.0.0.1", port_);
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
    json b = {{"model", "m"},
              {"messages", json::array({{{"role", "system"}, {"content", "Be brief."}},
                                        {{"role", "user"}, {"content", "Weather in Hangzhou?"}}})},
              {"max_tokens", 4}, {"temperature", 0}};
    b.update(extra);
    return b;
  }
  int port_ = 0;
};

TEST_P(E2EV4Chat, ThinkingSwitchAndReasoningEffort) {
  int st = 0;
  json off = Post(Chat(), &st);  // V4's default: thinking off, the prompt ends "<｜Assistant｜></think>"
  ASSERT_EQ(st, 200) << off.dump();
  EXPECT_FALSE(off["choices"][0]["message"].contains("reasoning_content")) << off.dump();
  json on = Post(Chat({{"thinking", {{"type", "enabled"}}}}), &st);
  ASSERT_EQ(st, 200) << on.dump();
  // "<think>" and "</think>" are one token each: same length, different split.
  EXPECT_EQ(on["usage"]["prompt_tokens"], off["usage"]["prompt_tokens"]);
  ASSERT_TRUE(on["choices"][0]["message"].contains("reasoning_content")) << on.dump();
  EXPECT_EQ(on["choices"][0]["message"]["content"], "");
  EXPECT_GT(on["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int64_t>(), 0);
  const int64_t p_on = on["usage"]["prompt_tokens"];
  // reasoning_effort switches thinking on; "max" also prefixes the effort instruction.
  json max = Post(Chat({{"reasoning_effort", "max"}}), &st);
  ASSERT_EQ(st, 200) << max.dump();
  EXPECT_TRUE(max["choices"][0]["message"].contains("reasoning_content"));
  EXPECT_GT(max["usage"]["prompt_tokens"].get<int64_t>(), p_on + 20);
  json low = Post(Chat({{"reasoning_effort", "low"}}), &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(low["usage"]["prompt_tokens"], p_on);
  json high = Post(Chat({{"reasoning_effort", "high"}}), &st);
  ASSERT_EQ(st, 200);
  if (GetParam() == "v4") EXPECT_EQ(high["usage"]["prompt_tokens"], p_on);  // V4 knows only "max"
  else EXPECT_GT(high["usage"]["prompt_tokens"].get<int64_t>(), p_on + 20);  // Flash-0731: "high" too
  // Thinking explicitly off wins over the effort: no instruction, no reasoning.
  json both = Post(Chat({{"reasoning_effort", "max"}, {"thinking", {{"type", "disabled"}}}}), &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(both["usage"]["prompt_tokens"], off["usage"]["prompt_tokens"]);
  EXPECT_FALSE(both["choices"][0]["message"].contains("reasoning_content"));
}

TEST_P(E2EV4Chat, DsmlToolCallsThroughTheApi) {
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
  EXPECT_EQ(tc[0]["function"]["name"], "get_weather");
  EXPECT_TRUE(json::parse(tc[0]["function"]["arguments"].get<std::string>()).is_object());
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
      EXPECT_EQ(d["tool_calls"][0]["function"]["name"], "get_weather");
    }
    if (d.contains("content")) EXPECT_EQ(d["content"].get<std::string>().find("DSML"), std::string::npos);
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(deltas, 1);
  EXPECT_EQ(finish, "length");  // issue 17: a call cut off by max_tokens is "length"
  // tool_choice "required": the block opens, the model names the function.
  json req = Post(Chat({{"tools", tools}, {"tool_choice", "required"}}), &st);
  ASSERT_EQ(st, 200) << req.dump();
  EXPECT_FALSE(req["choices"][0]["message"]["content"].is_string() &&
               req["choices"][0]["message"]["content"].get<std::string>().find("DSML") != std::string::npos);
  // The call (OpenAI's JSON-string arguments, read by the template's from_json) and its result
  // render: with thinking on, V4 keeps the earlier reasoning_content of a tool-call turn.
  json call = {{"id", "call_0"}, {"type", "function"},
               {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Hangzhou\", \"days\": 2}"}}}};
  json follow = Chat({{"tools", tools}, {"thinking", {{"type", "enabled"}}}});
  follow["messages"].push_back({{"role", "assistant"}, {"content", nullptr}, {"reasoning_content", "Need the weather."},
                                {"tool_calls", json::array({call})}});
  follow["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "{\"temp\": 21}"}});
  json f = Post(follow, &st);
  ASSERT_EQ(st, 200) << f.dump();
  json without = follow;
  without["messages"][2].erase("reasoning_content");
  json g = Post(without, &st);
  ASSERT_EQ(st, 200) << g.dump();
  EXPECT_GT(f["usage"]["prompt_tokens"].get<int64_t>(), g["usage"]["prompt_tokens"].get<int64_t>());
  EXPECT_GT(g["usage"]["prompt_tokens"].get<int64_t>(), a["usage"]["prompt_tokens"].get<int64_t>());
}

INSTANTIATE_TEST_SUITE_P(Templates, E2EV4Chat, ::testing::Values("v4", "v4flash"));

}  // namespace
}  // namespace qs::test
