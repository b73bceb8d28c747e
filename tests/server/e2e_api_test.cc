// End-to-end: the DeepSeek API as SDKs use it (issue 17) — /beta prefix completion, JSON-schema
// output, strict tools and forced tool choices, logit_bias, usage fields, x-request-id,
// Retry-After, CORS preflight, GET /v1/models/{id}, hidden placeholder tokens — over HTTP with a
// tiny random-weight DeepSeek-V3, then through the official `openai` npm SDK and `@ai-sdk/deepseek`.
// Random weights write noise: constrained decoding is what makes the schema and tool answers
// checkable.
#include <httplib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "e2e_util.h"
#include "testutil.h"
#include "tokenizer/tokenizer.h"

namespace qs::test {
namespace {

using nlohmann::json;

const char* kKey = "sk-api-test";

class E2EApi : public TinyV3ServerTest {
 protected:
  void SetUp() override {
    TinyV3ServerTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    std::string err;
    ASSERT_TRUE(server_.Start(model_, {"--api-key", kKey, "--parallel", "2", "--ctx", "1024",
                                       "--cors-origin", "https://app.example"}, &err)) << err;
  }
  json Post(const std::string& path, const json& body, int* status, httplib::Headers extra = {},
            httplib::Headers* headers = nullptr) {
    httplib::Client cli("127.0.0.1", server_.port());
    cli.set_read_timeout(120, 0);
    extra.emplace("Authorization", std::string("Bearer ") + kKey);
    auto r = cli.Post(path.c_str(), extra, body.dump(), "application/json");
    if (!r) {
      *status = -1;
      return nullptr;
    }
    *status = r->status;
    if (headers) *headers = r->headers;
    return json::parse(r->body, nullptr, false);
  }
  static json Chat(const std::string& text, int max_tokens = 8) {
    return {{"messages", {{{"role", "user"}, {"content", text}}}}, {"max_tokens", max_tokens}, {"temperature", 0}};
  }
  ServerProcess server_;
};

const json kWeatherTools = json::parse(R"([
  {"type":"function","function":{"name":"get_weather","strict":true,"parameters":{"type":"object",
    "properties":{"city":{"type":"string","maxLength":10},"unit":{"enum":["C","F"]},"days":{"type":"integer","minimum":1}},
    "required":["city","unit"],"additionalProperties":false}}},
  {"type":"function","function":{"name":"get_time","strict":true,"parameters":{"type":"object",
    "properties":{"zone":{"enum":["UTC","CST"]}},"required":["zone"],"additionalProperties":false}}}])");

TEST_F(E2EApi, BetaPrefixCompletion) {
  int st = 0;
  json plain = Post("/beta/chat/completions", Chat("Write quicksort", 4), &st);
  ASSERT_EQ(st, 200) << plain.dump();
  json req = Chat("Write quicksort", 4);
  req["messages"].push_back({{"role", "assistant"}, {"content", "```python\n"}, {"prefix", true}});
  json pre = Post("/beta/chat/completions", req, &st);
  ASSERT_EQ(st, 200) << pre.dump();
  EXPECT_GT(pre["usage"]["prompt_tokens"].get<int>(), plain["usage"]["prompt_tokens"].get<int>());
  // The same on /v1 (DeepSeek documents /beta; the prefix works on both here).
  json v1 = Post("/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(v1["choices"][0]["message"]["content"], pre["choices"][0]["message"]["content"]);
  // reasoning_content on the prefix: the reasoning continues (it is opened for a template without).
  req["messages"].back() = {{"role", "assistant"}, {"content", ""}, {"reasoning_content", "First, "}, {"prefix", true}};
  json think = Post("/beta/chat/completions", req, &st);
  ASSERT_EQ(st, 200) << think.dump();
  EXPECT_TRUE(think["choices"][0]["message"]["reasoning_content"].is_string()) << think.dump();
  EXPECT_GT(think["usage"]["prompt_tokens"].get<int>(), plain["usage"]["prompt_tokens"].get<int>());
}

TEST_F(E2EApi, JsonSchemaOutputParsesAndValidates) {
  const json schema = json::parse(R"({"type":"object","properties":{"name":{"type":"string","maxLength":8},
    "age":{"type":"integer","minimum":0},"mood":{"enum":["happy","sad"]},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":2}},
    "required":["name","age","mood","tags"],"additionalProperties":false})");
  for (int seed = 1; seed <= 4; ++seed) {
    json req = Chat("Describe a person as JSON", 200);
    req["temperature"] = 1;
    req["seed"] = seed;
    req["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "person"}, {"strict", true}, {"schema", schema}}}};
    int st = 0;
    json r = Post("/v1/chat/completions", req, &st);
    ASSERT_EQ(st, 200) << r.dump();
    EXPECT_EQ(r["choices"][0]["finish_reason"], "stop") << r.dump();
    json v = json::parse(r["choices"][0]["message"]["content"].get<std::string>(), nullptr, false);
    ASSERT_TRUE(v.is_object()) << r.dump();
    EXPECT_TRUE(v["name"].is_string() && v["age"].is_number_unsigned() && (v["mood"] == "happy" || v["mood"] == "sad") &&
                v["tags"].is_array() && v["tags"].size() <= 2 && v.size() == 4)
        << v.dump();
  }
  // Unsupported keywords: 400 naming the keyword.
  json req = Chat("x");
  req["response_format"] = {{"type", "json_schema"}, {"json_schema", {{"name", "s"}, {"schema", {{"type", "string"}, {"format", "email"}}}}}};
  int st = 0;
  json e = Post("/v1/chat/completions", req, &st);
  EXPECT_EQ(st, 400);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("'format'"), std::string::npos) << e.dump();
}

TEST_F(E2EApi, ForcedAndStrictToolCalls) {
  const std::vector<std::string> names = {"get_weather", "get_time"};
  for (int seed = 1; seed <= 3; ++seed) {
    for (bool stream : {false, true}) {
      json req = Chat("Weather in Hangzhou?", 150);
      req["temperature"] = 1;
      req["seed"] = seed;
      req["tools"] = kWeatherTools;
      req["tool_choice"] = "required";
      req["parallel_tool_calls"] = false;
      req["stream"] = stream;
      httplib::Client cli("127.0.0.1", server_.port());
      cli.set_read_timeout(120, 0);
      auto r = cli.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + kKey}}, req.dump(),
                        "application/json");
      ASSERT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
      json calls = json::array();
      std::string finish;
      if (stream) {
        SseResult s = ParseSse(r->body);
        for (auto& ev : s.events) {
          if (ev["choices"].empty()) continue;
          for (auto& c : ev["choices"][0]["delta"].value("tool_calls", json::array())) calls.push_back(c);
          if (ev["choices"][0]["finish_reason"].is_string()) finish = ev["choices"][0]["finish_reason"];
        }
      } else {
        json j = json::parse(r->body);
        calls = j["choices"][0]["message"]["tool_calls"];
        finish = j["choices"][0]["finish_reason"];
      }
      EXPECT_EQ(finish, "tool_calls") << r->body;
      ASSERT_EQ(calls.size(), 1u) << r->body;
      const std::string name = calls[0]["function"]["name"];
      ASSERT_TRUE(name == "get_weather" || name == "get_time") << name;
      json args = json::parse(calls[0]["function"]["arguments"].get<std::string>(), nullptr, false);
      ASSERT_TRUE(args.is_object()) << r->body;
      if (name == "get_weather") {
        EXPECT_TRUE(args["city"].is_string() && (args["unit"] == "C" || args["unit"] == "F")) << args.dump();
        if (args.contains("days")) {
          EXPECT_GE(args["days"].get<int64_t>(), 1);
        }
      } else {
        EXPECT_TRUE(args["zone"] == "UTC" || args["zone"] == "CST") << args.dump();
      }
    }
  }
  // A named choice gives that function; cut off by max_tokens it is "length".
  json req = Chat("Time?", 100);
  req["tools"] = kWeatherTools;
  req["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_time"}}}};
  int st = 0;
  json r = Post("/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(r["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_time");
  req["max_tokens"] = 2;
  r = Post("/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length") << r.dump();
  // auto with strict tools: either text or a valid call.
  req = Chat("Weather?", 60);
  req["temperature"] = 1;
  req["tools"] = kWeatherTools;
  r = Post("/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200);
  if (r["choices"][0]["message"].contains("tool_calls")) {
    for (auto& c : r["choices"][0]["message"]["tool_calls"])
      EXPECT_TRUE(c["function"]["name"] == "get_weather" || c["function"]["name"] == "get_time");
  }
  // A strict tool whose schema uses an unsupported keyword: 400 naming it.
  req["tools"] = json::parse(R"([{"type":"function","function":{"name":"f","strict":true,
      "parameters":{"type":"object","properties":{"q":{"type":"string","pattern":"^a"}}}}}])");
  r = Post("/v1/chat/completions", req, &st);
  EXPECT_EQ(st, 400);
  EXPECT_EQ(r["error"]["param"], "tools");
}

TEST_F(E2EApi, LogitBiasAndHiddenSpecialTokens) {
  auto tok = Tokenizer::Load(model_);
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  const int32_t hello = (*tok)->TokenId("Hello"), placeholder = (*tok)->TokenId("<｜place▁holder▁no▁5｜>");
  ASSERT_GE(hello, 0);
  ASSERT_GE(placeholder, 0);
  json req = Chat("Say something", 3);
  req["logit_bias"] = {{std::to_string(hello), 100}};
  int st = 0;
  json r = Post("/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200) << r.dump();
  EXPECT_EQ(r["choices"][0]["message"]["content"], "HelloHelloHello");
  // -100 bans it: greedy never picks it even with +100 elsewhere removed.
  req["logit_bias"] = {{std::to_string(hello), -100}};
  r = Post("/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(r["choices"][0]["message"]["content"].get<std::string>().find("Hello"), std::string::npos);
  // A placeholder token forced out is counted but never shown.
  req["logit_bias"] = {{std::to_string(placeholder), 100}};
  r = Post("/v1/chat/completions", req, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(r["choices"][0]["message"]["content"], "");
  EXPECT_EQ(r["usage"]["completion_tokens"], 3);
  // Completions take logit_bias too; ids beyond the vocabulary are 422, bad values 400/422.
  r = Post("/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}, {"temperature", 0},
                               {"logit_bias", {{std::to_string(hello), 100}}}}, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(r["choices"][0]["text"], "HelloHello");
  req["logit_bias"] = {{"129280", 1}};
  Post("/v1/chat/completions", req, &st);
  EXPECT_EQ(st, 422);
  req["logit_bias"] = {{"5", 150}};
  Post("/v1/chat/completions", req, &st);
  EXPECT_EQ(st, 422);
  req["logit_bias"] = {{"five", 1}};
  Post("/v1/chat/completions", req, &st);
  EXPECT_EQ(st, 400);
}

TEST_F(E2EApi, UsageAndHeaders) {
  int st = 0;
  json req = Chat("A prompt sent twice so that the prefix cache hits", 2);
  Post("/v1/chat/completions", req, &st);
  httplib::Headers h;
  json r = Post("/v1/chat/completions", req, &st, {{"X-Request-Id", "my-trace-42"}}, &h);
  ASSERT_EQ(st, 200);
  const json& u = r["usage"];
  EXPECT_GT(u["prompt_cache_hit_tokens"].get<int>(), 0);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], u["prompt_cache_hit_tokens"]);
  EXPECT_TRUE(u["completion_tokens_details"]["reasoning_tokens"].is_number());
  EXPECT_EQ(h.find("x-request-id")->second, "my-trace-42");
  // Generated when the client sends none (or one that is not a plain id).
  Post("/v1/chat/completions", req, &st, {{"X-Request-Id", "not a plain id"}}, &h);
  ASSERT_NE(h.find("x-request-id"), h.end());
  EXPECT_EQ(h.find("x-request-id")->second.rfind("req_", 0), 0u);
  // Streamed usage carries cached_tokens too.
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  httplib::Client cli("127.0.0.1", server_.port());
  auto s = cli.Post("/v1/chat/completions", {{"Authorization", std::string("Bearer ") + kKey}}, req.dump(), "application/json");
  ASSERT_TRUE(s && s->status == 200);
  SseResult sse = ParseSse(s->body);
  ASSERT_FALSE(sse.events.empty());
  EXPECT_EQ(sse.events.back()["usage"]["prompt_tokens_details"]["cached_tokens"], sse.events.back()["usage"]["prompt_cache_hit_tokens"]);
  EXPECT_TRUE(s->has_header("x-request-id"));
}

TEST_F(E2EApi, ModelsByIdCorsAndMaxTokens) {
  httplib::Client cli("127.0.0.1", server_.port());
  httplib::Headers auth = {{"Authorization", std::string("Bearer ") + kKey}};
  auto list = cli.Get("/v1/models", auth);
  ASSERT_TRUE(list && list->status == 200);
  const std::string id = json::parse(list->body)["data"][0]["id"];
  auto one = cli.Get(("/v1/models/" + id).c_str(), auth);
  ASSERT_TRUE(one && one->status == 200);
  EXPECT_EQ(json::parse(one->body)["id"], id);
  auto ds = cli.Get("/v1/models/deepseek-chat", auth);
  ASSERT_TRUE(ds && ds->status == 200);
  auto none = cli.Get("/v1/models/gpt-5", auth);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);
  EXPECT_EQ(json::parse(none->body)["error"]["code"], "model_not_found");
  EXPECT_EQ(cli.Get("/v1/models/" + id)->status, 401);  // the key is needed here too
  // A browser SDK's preflight: its x-stainless-* headers are allowed.
  httplib::Request pre;
  pre.method = "OPTIONS";
  pre.path = "/v1/chat/completions";
  pre.headers = {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"},
                 {"Access-Control-Request-Headers", "authorization,content-type,x-stainless-os,x-stainless-retry-count"}};
  auto p = cli.send(pre);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 204);
  EXPECT_EQ(p->get_header_value("Access-Control-Allow-Origin"), "https://app.example");
  const std::string allowed = p->get_header_value("Access-Control-Allow-Headers");
  for (const char* h : {"authorization", "content-type", "x-stainless-os", "x-stainless-retry-count"})
    EXPECT_NE(allowed.find(h), std::string::npos) << allowed;
  EXPECT_NE(p->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  // max_tokens beyond what the context leaves: 400 in DeepSeek's error shape.
  int st = 0;
  json r = Post("/v1/chat/completions", Chat("x", 5000), &st);
  EXPECT_EQ(st, 400);
  EXPECT_EQ(r["error"]["type"], "invalid_request_error");
  EXPECT_EQ(r["error"]["param"], "max_tokens");
}

// 429 (queue full) carries Retry-After.
class E2EApiQueue : public TinyV3ServerTest {};
TEST_F(E2EApiQueue, RetryAfterOn429) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--parallel", "1", "--max-queue", "0", "--ctx", "1024"}, &err)) << err;
  std::thread busy([&] {
    httplib::Client cli("127.0.0.1", s.port());
    cli.set_read_timeout(120, 0);
    json req = {{"messages", {{{"role", "user"}, {"content", "long"}}}}, {"max_tokens", 900}, {"temperature", 0},
                {"logit_bias", {{"19923", 100}}}};
    cli.Post("/v1/chat/completions", req.dump(), "application/json");
  });
  int status = 0;
  std::string retry_after;
  for (int i = 0; i < 200 && status != 429; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    httplib::Client cli("127.0.0.1", s.port());
    auto r = cli.Post("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":1})",
                      "application/json");
    status = r ? r->status : -1;
    if (r) retry_after = r->get_header_value("Retry-After");
  }
  EXPECT_EQ(status, 429);
  EXPECT_EQ(retry_after, "1");
  s.Stop();
  busy.join();
}

// The official SDKs (npm; skipped without tests/e2e/node_modules).
TEST_F(E2EApi, OpenAINpmSdk) {
  const std::string dir = QS_E2E_DIR;
  if (!std::filesystem::exists(dir + "/node_modules/openai/package.json"))
    GTEST_SKIP() << "tests/e2e/node_modules absent (scripts/install-deps.sh runs npm ci there)";
  auto tok = Tokenizer::Load(model_);
  ASSERT_TRUE(tok.ok());
  std::string out;
  int rc = RunCommand("node '" + dir + "/api_openai.mjs' http://127.0.0.1:" + std::to_string(server_.port()) + " " +
                          kKey + " " + std::to_string((*tok)->TokenId("<｜place▁holder▁no▁5｜>")) + " " +
                          std::to_string((*tok)->TokenId("Hello")) + " Hello 2>&1",
                      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

TEST_F(E2EApi, AiSdkDeepSeekProvider) {
  const std::string dir = QS_E2E_DIR;
  if (!std::filesystem::exists(dir + "/node_modules/@ai-sdk/deepseek/package.json"))
    GTEST_SKIP() << "tests/e2e/node_modules absent (scripts/install-deps.sh runs npm ci there)";
  std::string out;
  int rc = RunCommand("node '" + dir + "/api_aisdk.mjs' http://127.0.0.1:" + std::to_string(server_.port()) + " " +
                          kKey + " 2>&1",
                      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

}  // namespace
}  // namespace qs::test
