// End-to-end: the real `qiusuo serve` binary on a loopback port, spoken to over HTTP.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <csignal>
#include <cstring>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "e2e_util.h"
#include "runtime/json_constraint.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;

const char* kKey = "sk-test-key";

// Models are shared across test processes; servers start on first use within a process.
struct Env {
  std::string v3_model, r1_model;
  std::unique_ptr<ServerProcess> v3, r1;  // v3: --api-key; r1: the R1-Distill template ("<think>\n")
  std::string error;
};
Env* env = nullptr;

class E2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (FixturesDir().empty()) return;
    env = new Env;
    env->error = SharedTinyModel("v3", "", &env->v3_model);
    if (env->error.empty())
      env->error = SharedTinyModel(
          "r1", FixturesDir() + "/chat-templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", &env->r1_model);
  }
  static void TearDownTestSuite() {
    delete env;
    env = nullptr;
  }
  void SetUp() override {
    QS_REQUIRE_FIXTURES();
    ASSERT_TRUE(env && env->error.empty()) << (env ? env->error : "no env");
  }
  static int V3Port() {
    if (!env->v3) {
      env->v3 = std::make_unique<ServerProcess>();
      std::string err;
      if (!env->v3->Start(env->v3_model, {"--api-key", kKey, "--parallel", "2", "--ctx", "512"}, &err))
        ADD_FAILURE() << err;
    }
    return env->v3->port();
  }
  static int R1Port() {
    if (!env->r1) {
      env->r1 = std::make_unique<ServerProcess>();
      std::string err;
      if (!env->r1->Start(env->r1_model, {"--parallel", "2", "--ctx", "512"}, &err)) ADD_FAILURE() << err;
    }
    return env->r1->port();
  }
  static httplib::Headers Auth() { return {{"Authorization", std::string("Bearer ") + kKey}}; }
  // POST JSON to the v3 server (with the key) or another port.
  static json Post(const std::string& path, const json& body, int* status, int port = 0, bool auth = true) {
    httplib::Client cli("127.0.0.1", port ? port : V3Port());
    cli.set_read_timeout(60, 0);
    auto r = cli.Post(path.c_str(), auth ? Auth() : httplib::Headers{}, body.dump(), "application/json");
    if (!r) {
      *status = -1;
      return json();
    }
    *status = r->status;
    if (body.value("stream", false) && r->status == 200) return json{{"sse", r->body}};
    auto j = json::parse(r->body, nullptr, false);
    return j;
  }
  static json Chat(const std::string& user, json extra = json::object()) {
    json b = {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", user}}})}, {"max_tokens", 8}};
    b.update(extra);
    return b;
  }
};

TEST_F(E2E, ModelsHealthMetricsAndPage) {
  httplib::Client cli("127.0.0.1", V3Port());
  auto r = cli.Get("/v1/models", Auth());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["object"], "model");
  EXPECT_EQ(j["data"][0]["id"], "m");
  EXPECT_TRUE(j["data"][0].contains("owned_by"));
  EXPECT_EQ(cli.Get("/models", Auth())->status, 200);
  EXPECT_EQ(cli.Get("/health")->status, 200);
  r = cli.Get("/metrics");
  ASSERT_TRUE(r);
  for (const char* m : {"qiusuo_requests_total", "qiusuo_prompt_tokens_total", "qiusuo_completion_tokens_total",
                        "qiusuo_prompt_cache_hit_tokens_total", "qiusuo_queue_length", "qiusuo_tokens_per_second"})
    EXPECT_NE(r->body.find(m), std::string::npos) << m;
  r = cli.Get("/");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("<html"), std::string::npos);
  r = cli.Get("/v1/nothing", Auth());
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body)["error"].contains("message"));
}

TEST_F(E2E, ApiKey) {
  int st = 0;
  json j = Post("/v1/chat/completions", Chat("hi"), &st, 0, /*auth=*/false);
  EXPECT_EQ(st, 401);
  EXPECT_EQ(j["error"]["type"], "authentication_error");
  httplib::Client cli("127.0.0.1", V3Port());
  auto r = cli.Post("/v1/chat/completions", {{"Authorization", "Bearer wrong"}}, Chat("hi").dump(), "application/json");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(cli.Get("/v1/models")->status, 401);
}

TEST_F(E2E, ChatUsageAndPrefixCache) {
  int st = 0;
  json sys = {{"role", "system"}, {"content", "You are a helpful assistant. Answer briefly and precisely, always."}};
  json b1 = Chat("", {{"temperature", 0}});
  b1["messages"] = json::array({sys, {{"role", "user"}, {"content", "What is the capital of France?"}}});
  json a = Post("/v1/chat/completions", b1, &st);
  ASSERT_EQ(st, 200) << a.dump();
  EXPECT_EQ(a["object"], "chat.completion");
  EXPECT_TRUE(a["id"].get<std::string>().rfind("chatcmpl-", 0) == 0);
  EXPECT_EQ(a["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(a["choices"][0]["message"]["content"].is_string());
  const json& u = a["usage"];
  EXPECT_EQ(u["prompt_cache_hit_tokens"].get<int>() + u["prompt_cache_miss_tokens"].get<int>(), u["prompt_tokens"].get<int>());
  EXPECT_EQ(u["total_tokens"], u["prompt_tokens"].get<int>() + u["completion_tokens"].get<int>());
  EXPECT_LE(u["completion_tokens"].get<int>(), 8);
  // Same system prompt, another question: the shared prefix comes from the cache.
  json b2 = b1;
  b2["messages"][1]["content"] = "And of Spain?";
  json b = Post("/v1/chat/completions", b2, &st);
  ASSERT_EQ(st, 200);
  const json& u2 = b["usage"];
  EXPECT_GE(u2["prompt_cache_hit_tokens"].get<int>(), 15);
  EXPECT_EQ(u2["prompt_cache_hit_tokens"].get<int>() + u2["prompt_cache_miss_tokens"].get<int>(), u2["prompt_tokens"].get<int>());
  // Greedy is deterministic, cache or not.
  json c = Post("/chat/completions", b1, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(c["choices"][0]["message"]["content"], a["choices"][0]["message"]["content"]);
  EXPECT_EQ(c["usage"]["prompt_cache_hit_tokens"].get<int>(), c["usage"]["prompt_tokens"].get<int>() - 1);
}

TEST_F(E2E, StreamingMatchesNonStreaming) {
  int st = 0;
  json body = Chat("Tell me a story", {{"temperature", 0.8}, {"seed", 7}, {"max_tokens", 12}});
  json plain = Post("/v1/chat/completions", body, &st);
  ASSERT_EQ(st, 200);
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  json s = Post("/v1/chat/completions", body, &st);
  ASSERT_EQ(st, 200);
  SseResult r = ParseSse(s["sse"]);
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.done);
  ASSERT_GE(r.events.size(), 3u);
  EXPECT_EQ(r.events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string text, finish;
  for (auto& e : r.events) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e["choices"].empty()) continue;
    const json& d = e["choices"][0]["delta"];
    if (d.contains("content") && d["content"].is_string()) text += d["content"].get<std::string>();
    if (!e["choices"][0]["finish_reason"].is_null()) finish = e["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, plain["choices"][0]["message"]["content"].get<std::string>());  // same seed, same text
  EXPECT_EQ(finish, plain["choices"][0]["finish_reason"].get<std::string>());
  const json& last = r.events.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], plain["usage"]["completion_tokens"]);
}

TEST_F(E2E, StopStringsAndLogprobs) {
  int st = 0;
  json a = Post("/v1/chat/completions", Chat("hello", {{"temperature", 0}, {"max_tokens", 10}}), &st);
  ASSERT_EQ(st, 200);
  std::string text = a["choices"][0]["message"]["content"];
  ASSERT_GE(text.size(), 4u);
  // Stop at a piece of the greedy answer: the answer ends just before it.
  size_t b0 = text.size() / 2;  // whole UTF-8 characters: a split one would not be valid JSON
  while (b0 < text.size() && (static_cast<unsigned char>(text[b0]) & 0xC0) == 0x80) ++b0;
  size_t b1 = b0 + 1;
  while (b1 < text.size() && (static_cast<unsigned char>(text[b1]) & 0xC0) == 0x80) ++b1;
  ASSERT_LT(b0, text.size());
  std::string stop = text.substr(b0, b1 - b0);
  json b = Post("/v1/chat/completions", Chat("hello", {{"temperature", 0}, {"max_tokens", 10}, {"stop", {stop}}}), &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(b["choices"][0]["message"]["content"], text.substr(0, text.find(stop)));
  EXPECT_EQ(b["choices"][0]["finish_reason"], "stop");
  json c = Post("/v1/chat/completions", Chat("hello", {{"max_tokens", 4}, {"logprobs", true}, {"top_logprobs", 3}}), &st);
  ASSERT_EQ(st, 200);
  const json& lp = c["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(lp.size(), 4u);
  for (auto& t : lp) {
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    EXPECT_EQ(t["top_logprobs"].size(), 3u);
    EXPECT_TRUE(t["bytes"].is_array());
  }
  // Streaming: every token's logprob arrives in some chunk.
  json sb = Chat("hello", {{"max_tokens", 5}, {"logprobs", true}, {"top_logprobs", 1}, {"stream", true},
                           {"stream_options", {{"include_usage", true}}}});
  json s = Post("/v1/chat/completions", sb, &st);
  ASSERT_EQ(st, 200);
  SseResult r = ParseSse(s["sse"]);
  size_t n = 0;
  for (auto& e : r.events)
    if (!e["choices"].empty() && e["choices"][0]["logprobs"].is_object()) n += e["choices"][0]["logprobs"]["content"].size();
  EXPECT_EQ(n, r.events.back()["usage"]["completion_tokens"].get<size_t>() -
                   (r.events[r.events.size() - 2]["choices"][0]["finish_reason"] == "stop" ? 1 : 0));
}

TEST_F(E2E, BadInputs) {
  httplib::Client cli("127.0.0.1", V3Port());
  auto expect = [&](const std::string& body, int status, const char* what) {
    auto r = cli.Post("/v1/chat/completions", Auth(), body, "application/json");
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, status) << what << ": " << r->body;
    json j = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << what;
    EXPECT_TRUE(j["error"]["message"].is_string()) << what;
    EXPECT_TRUE(j["error"]["type"].is_string()) << what;
    EXPECT_TRUE(j["error"].contains("param") && j["error"].contains("code")) << what;
  };
  expect("{not json", 400, "malformed JSON");
  expect(R"({"messages": "hi"})", 400, "messages not an array");
  expect(Chat("x", {{"max_tokens", "ten"}}).dump(), 400, "wrong type");
  expect(Chat("x", {{"temperature", 7}}).dump(), 422, "temperature out of range");
  expect(Chat("x", {{"top_logprobs", 50}, {"logprobs", true}}).dump(), 422, "top_logprobs");
  std::string longp;
  for (int i = 0; i < 700; ++i) longp += "word ";
  expect(Chat(longp).dump(), 422, "prompt longer than the context");
  // The server is still fine.
  int st = 0;
  Post("/v1/chat/completions", Chat("ok"), &st);
  EXPECT_EQ(st, 200);
}

// Streams a chat request on its own thread; the receiver sees every piece of the body and returns
// false to hang up.
std::thread StreamInBackground(int port, const json& body, std::function<bool(const std::string&)> on_data) {
  return std::thread([=] {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(60, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    std::string all;
    req.content_receiver = [&](const char* d, size_t n, uint64_t, uint64_t) {
      all.append(d, n);
      return on_data(all);
    };
    httplib::Response res;
    httplib::Error e;
    cli.send(req, res, e);
  });
}

TEST_F(E2E, QueueKeepAliveAnd429) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(env->v3_model, {"--parallel", "1", "--max-queue", "1", "--ctx", "4096"}, &err)) << err;
  // A holds the only slot until told to hang up; B waits in the queue and gets keep-alive
  // comments; C finds the queue full.
  std::atomic<bool> a_started{false}, a_hangup{false}, b_keepalive{false};
  std::thread a = StreamInBackground(s.port(), Chat("go", {{"max_tokens", 4000}, {"stream", true}}), [&](const std::string&) {
    a_started = true;
    return !a_hangup.load();
  });
  while (!a_started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::thread b = StreamInBackground(s.port(), Chat("wait", {{"max_tokens", 2}, {"stream", true}}), [&](const std::string& all) {
    if (all.find(": keep-alive") != std::string::npos) b_keepalive = true;
    return !b_keepalive.load();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // B is queued
  int st = 0;
  json j = Post("/v1/chat/completions", Chat("third"), &st, s.port(), false);
  EXPECT_EQ(st, 429);
  EXPECT_EQ(j["error"]["type"], "rate_limit_error");
  b.join();  // returns after its first keep-alive (about a second)
  EXPECT_TRUE(b_keepalive);
  a_hangup = true;
  a.join();
}

TEST_F(E2E, ReasoningSplitR1Template) {
  // The R1 template ends the prompt with "<think>\n": everything generated is reasoning until a
  // </think> (random weights never write one).
  int st = 0;
  json a = Post("/v1/chat/completions", Chat("Why?", {{"max_tokens", 6}}), &st, R1Port());
  ASSERT_EQ(st, 200) << a.dump();
  const json& m = a["choices"][0]["message"];
  ASSERT_TRUE(m.contains("reasoning_content"));
  EXPECT_FALSE(m["reasoning_content"].get<std::string>().empty());
  EXPECT_EQ(m["content"], "");
  EXPECT_GE(a["usage"]["completion_tokens_details"]["reasoning_tokens"].get<int>(), 5);
  // Streaming puts it in delta.reasoning_content.
  json s = Post("/v1/chat/completions", Chat("Why?", {{"max_tokens", 6}, {"stream", true}}), &st, R1Port());
  SseResult r = ParseSse(s["sse"]);
  ASSERT_TRUE(r.error.empty() && r.done);
  std::string reasoning;
  for (auto& e : r.events)
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("reasoning_content") &&
        e["choices"][0]["delta"]["reasoning_content"].is_string())
      reasoning += e["choices"][0]["delta"]["reasoning_content"].get<std::string>();
  EXPECT_FALSE(reasoning.empty());
  // Raw mode: the text with the tag inline.
  json raw = Post("/v1/chat/completions", Chat("Why?", {{"max_tokens", 4}, {"reasoning_format", "raw"}}), &st, R1Port());
  ASSERT_EQ(st, 200);
  EXPECT_EQ(raw["choices"][0]["message"]["content"].get<std::string>().rfind("<think>\n", 0), 0u);
  EXPECT_FALSE(raw["choices"][0]["message"].contains("reasoning_content"));
}

TEST_F(E2E, PrefixCompletion) {
  int st = 0;
  json b = Chat("Write code", {{"temperature", 0}, {"max_tokens", 4}});
  json plain = Post("/v1/chat/completions", b, &st);
  ASSERT_EQ(st, 200);
  b["messages"].push_back({{"role", "assistant"}, {"content", "```python\n"}, {"prefix", true}});
  json p = Post("/v1/chat/completions", b, &st);
  ASSERT_EQ(st, 200) << p.dump();
  EXPECT_GT(p["usage"]["prompt_tokens"].get<int>(), plain["usage"]["prompt_tokens"].get<int>());
  EXPECT_GE(p["usage"]["prompt_cache_hit_tokens"].get<int>(), plain["usage"]["prompt_tokens"].get<int>() - 1);
}

TEST_F(E2E, FimCompletions) {
  int st = 0;
  json a = Post("/beta/completions", {{"model", "m"}, {"prompt", "def add(a, b):\n"}, {"suffix", "\n    return c"},
                                       {"max_tokens", 5}, {"echo", true}, {"logprobs", 2}}, &st);
  ASSERT_EQ(st, 200) << a.dump();
  EXPECT_EQ(a["object"], "text_completion");
  std::string text = a["choices"][0]["text"];
  EXPECT_EQ(text.rfind("def add(a, b):\n", 0), 0u);  // echo
  EXPECT_EQ(a["choices"][0]["logprobs"]["tokens"].size(), a["usage"]["completion_tokens"].get<size_t>() -
                                                             (a["choices"][0]["finish_reason"] == "stop" ? 1 : 0));
  // prompt tokens: fim begin/hole/end + both texts
  EXPECT_GE(a["usage"]["prompt_tokens"].get<int>(), 10);
  json s = Post("/v1/completions", {{"prompt", "Once upon"}, {"max_tokens", 5}, {"stream", true}}, &st);
  ASSERT_EQ(st, 200);
  SseResult r = ParseSse(s["sse"]);
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.events.back()["choices"][0]["finish_reason"], "length");
}

TEST_F(E2E, JsonModeIsValidJson) {
  int st = 0;
  json a = Post("/v1/chat/completions",
                Chat("Reply in json", {{"max_tokens", 40}, {"response_format", {{"type", "json_object"}}}, {"seed", 1}}), &st);
  ASSERT_EQ(st, 200) << a.dump();
  std::string text = a["choices"][0]["message"]["content"];
  ASSERT_FALSE(text.empty());
  JsonPrefixState js;
  EXPECT_TRUE(js.Feed(text)) << text;  // always a valid prefix of a JSON object
  if (a["choices"][0]["finish_reason"] == "stop") {
    EXPECT_TRUE(js.complete());
    EXPECT_FALSE(json::parse(text, nullptr, false).is_discarded()) << text;
  }
  EXPECT_EQ(text[text.find_first_not_of(" \n\t\r")], '{');
}

TEST_F(E2E, ToolCalls) {
  json tools = json::array({{{"type", "function"},
                             {"function", {{"name", "get_weather"}, {"description", "Weather of a city"},
                                           {"parameters", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}}}}});
  json body = Chat("Weather in Hangzhou?", {{"max_tokens", 6}, {"tools", tools},
                                            {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
  int st = 0;
  json a = Post("/v1/chat/completions", body, &st);
  ASSERT_EQ(st, 200) << a.dump();
  EXPECT_EQ(a["choices"][0]["finish_reason"], "length");  // issue 17: a call cut off by max_tokens is "length"
  const json& tc = a["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(tc.size(), 1u);
  EXPECT_EQ(tc[0]["type"], "function");
  EXPECT_EQ(tc[0]["function"]["name"], "get_weather");
  EXPECT_TRUE(tc[0]["function"]["arguments"].is_string());
  body["stream"] = true;
  json s = Post("/v1/chat/completions", body, &st);
  SseResult r = ParseSse(s["sse"]);
  ASSERT_TRUE(r.error.empty() && r.done);
  bool saw = false;
  for (auto& e : r.events)
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("tool_calls")) {
      saw = true;
      EXPECT_EQ(e["choices"][0]["delta"]["tool_calls"][0]["function"]["name"], "get_weather");
      EXPECT_EQ(e["choices"][0]["delta"]["tool_calls"][0]["index"], 0);
    }
  EXPECT_TRUE(saw);
  // A tool result turn renders and runs.
  json follow = Chat("Weather in Hangzhou?", {{"max_tokens", 3}, {"tools", tools}});
  follow["messages"].push_back({{"role", "assistant"}, {"content", nullptr}, {"tool_calls", tc}});
  follow["messages"].push_back({{"role", "tool"}, {"tool_call_id", tc[0]["id"]}, {"content", "{\"temp\": 21}"}});
  Post("/v1/chat/completions", follow, &st);
  EXPECT_EQ(st, 200);
}

// Reads /metrics and returns the value of `name`.
double Metric(int port, const std::string& name) {
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get("/metrics");
  if (!r) return -1;
  size_t p = r->body.find("\n" + name + " ");
  return p == std::string::npos ? -1 : std::atof(r->body.c_str() + p + name.size() + 2);
}

TEST_F(E2E, DisconnectFreesSlot) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(env->v3_model, {"--parallel", "1", "--ctx", "4096"}, &err)) << err;
  // Raw socket: send a long streaming request, read a little, hang up.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(s.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string body = Chat("go", {{"max_tokens", 4000}, {"stream", true}}).dump();
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  char buf[4096];
  std::string got;
  while (got.find("\"delta\":{\"content\"") == std::string::npos || got.size() < 800) {
    ssize_t n = read(fd, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(Metric(s.port(), "qiusuo_slots_busy"), 1);
  close(fd);
  double busy = 1;
  for (int i = 0; i < 100 && busy != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    busy = Metric(s.port(), "qiusuo_slots_busy");
  }
  EXPECT_EQ(busy, 0) << "slot still busy after the client left";
  EXPECT_EQ(Metric(s.port(), "qiusuo_client_disconnects_total"), 1);
  EXPECT_LT(Metric(s.port(), "qiusuo_completion_tokens_total"), 3000);
  // And the slot serves the next request.
  int st = 0;
  Post("/v1/chat/completions", Chat("next"), &st, s.port(), false);
  EXPECT_EQ(st, 200);
}

}  // namespace
}  // namespace qs::test

namespace qs::test {
namespace {

TEST_F(E2E, OpenAINpmClient) {
  const std::string dir = QS_E2E_DIR;
  if (!std::filesystem::exists(dir + "/node_modules/openai/package.json"))
    GTEST_SKIP() << "tests/e2e/node_modules absent (scripts/install-deps.sh runs npm ci there)";
  std::string out;
  int rc = RunCommand("node '" + dir + "/openai_client.mjs' http://127.0.0.1:" + std::to_string(V3Port()) +
                          "/v1 " + kKey + " 2>&1",
                      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
}

}  // namespace
}  // namespace qs::test

namespace qs::test {
namespace {

// One streaming greedy request; returns its text and completion tokens, or an error.
struct StreamOutcome {
  std::string text, error;
  int tokens = 0;
};
StreamOutcome StreamOnce(int port, const std::string& prompt, int max_tokens) {
  StreamOutcome o;
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  json body = {{"messages", json::array({{{"role", "user"}, {"content", prompt}}})}, {"max_tokens", max_tokens},
               {"temperature", 0}, {"stream", true}, {"stream_options", {{"include_usage", true}}}};
  auto r = cli.Post("/v1/chat/completions", body.dump(), "application/json");
  if (!r) return o.error = "no response", o;
  if (r->status != 200) return o.error = "status " + std::to_string(r->status) + ": " + r->body, o;
  SseResult s = ParseSse(r->body);
  if (!s.error.empty()) return o.error = s.error, o;
  if (!s.done) return o.error = "no [DONE]", o;
  std::string id;
  for (auto& e : s.events) {
    if (id.empty()) id = e["id"];
    if (e["id"] != id) return o.error = "mixed ids", o;
    if (!e["choices"].empty() && e["choices"][0]["delta"].contains("content") && e["choices"][0]["delta"]["content"].is_string())
      o.text += e["choices"][0]["delta"]["content"].get<std::string>();
    if (e.contains("usage") && e["usage"].is_object()) o.tokens = e["usage"]["completion_tokens"];
  }
  if (o.tokens == 0) o.error = "no usage";
  return o;
}

TEST_F(E2E, LoadConcurrentStreams) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(env->v3_model, {"--parallel", "4", "--ctx", "512", "--max-queue", "64"}, &err)) << err;
  const std::vector<std::string> prompts = {"Tell me about the sea.", "List three colours.", "Why is the sky blue?"};
  std::vector<std::string> expected;
  for (auto& p : prompts) {
    StreamOutcome o = StreamOnce(s.port(), p, 16);
    ASSERT_TRUE(o.error.empty()) << o.error;
    expected.push_back(o.text);
  }
  // Runs `clients` clients for `seconds`; every response must equal the greedy reference.
  auto run = [&](int clients, double seconds, int* failures) {
    std::atomic<long> tokens{0};
    std::atomic<int> fails{0};
    auto t0 = std::chrono::steady_clock::now();
    auto deadline = t0 + std::chrono::duration<double>(seconds);
    std::vector<std::thread> ts;
    for (int c = 0; c < clients; ++c)
      ts.emplace_back([&, c] {
        for (int i = 0; std::chrono::steady_clock::now() < deadline; ++i) {
          size_t k = static_cast<size_t>(c + i) % prompts.size();
          StreamOutcome o = StreamOnce(s.port(), prompts[k], 16);
          if (!o.error.empty() || o.text != expected[k]) {
            if (fails++ < 3) ADD_FAILURE() << "client " << c << ": " << o.error << " text=" << o.text;
          }
          tokens += o.tokens;
        }
      });
    for (auto& t : ts) t.join();
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    *failures = fails;
    return static_cast<double>(tokens) / dt;
  };
  int f1 = 0, f8 = 0;
  double one = run(1, 2.0, &f1);
  double eight = run(8, 4.0, &f8);
  EXPECT_EQ(f1, 0);
  EXPECT_EQ(f8, 0);
  std::printf("[load] 1 client: %.1f tok/s | 8 concurrent streaming clients (4 slots): %.1f tok/s aggregate (x%.2f)\n",
              one, eight, eight / one);
}

}  // namespace
}  // namespace qs::test

namespace qs::test {
namespace {

TEST_F(E2E, WebPageInHeadlessChromium) {
  const std::string dir = QS_E2E_DIR;
  const char* chromium = std::getenv("CHROMIUM");
  std::string exe = chromium ? chromium : "/usr/bin/chromium";
  if (!std::filesystem::exists(exe)) GTEST_SKIP() << exe << " absent (scripts/install-deps.sh installs chromium)";
  if (!std::filesystem::exists(dir + "/node_modules/playwright-core/package.json"))
    GTEST_SKIP() << "tests/e2e/node_modules absent (scripts/install-deps.sh runs npm ci there)";
  ServerProcess s;  // no API key: the page's key field stays empty
  std::string err;
  ASSERT_TRUE(s.Start(env->r1_model, {"--ctx", "4096"}, &err)) << err;  // R1: shows the reasoning part
  const std::string shot = TempDir("web") + "/chat.png";
  std::string out;
  int rc = RunCommand("CHROMIUM='" + exe + "' node '" + dir + "/web_page.mjs' http://127.0.0.1:" +
                          std::to_string(s.port()) + "/ '" + shot + "' reasoning 2>&1",
                      &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("OK"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::exists(shot));
  std::printf("[web] screenshot: %s\n", shot.c_str());
}

}  // namespace
}  // namespace qs::test

namespace qs::test {
namespace {

TEST_F(E2E, RunOneShotAndInteractive) {
  const std::string bin = "'" + QiusuoBin() + "' run --threads 1 --model '";
  std::string out;
  EXPECT_EQ(RunCommand(bin + env->v3_model + "' 'Hello there' -n 6 --temperature 0 2>/dev/null", &out), 0) << out;
  EXPECT_FALSE(out.empty());
  // Interactive over a pipe: two turns, /clear, /exit.
  EXPECT_EQ(RunCommand("printf 'hello\\n/clear\\nagain\\n/exit\\nnever\\n' | " + bin + env->v3_model + "' -n 4 --seed 3 2>&1", &out), 0) << out;
  EXPECT_NE(out.find("(conversation cleared)"), std::string::npos) << out;
  size_t first = out.find("[4 tokens"), second = out.rfind("[4 tokens");
  EXPECT_TRUE(first != std::string::npos && second != first) << out;
  // A reasoning model: without a terminal the reasoning goes to stderr, the answer to stdout.
  std::string err_file = TempDir("run") + "/err";
  EXPECT_EQ(RunCommand(bin + env->r1_model + "' 'Why?' -n 5 2>'" + err_file + "'", &out), 0);
  EXPECT_FALSE(ReadFileOrDie(err_file).empty());
}

TEST_F(E2E, RunCtrlCStopsAnswerNotChat) {
  int in[2], outp[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(outp), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(outp[1], 1);
    dup2(outp[1], 2);
    close(in[1]);
    close(outp[0]);
    std::string m = env->v3_model;
    execl(QiusuoBin().c_str(), "qiusuo", "run", "--threads", "1", "--model", m.c_str(), "--ctx", "300", "-n", "8000",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(in[0]);
  close(outp[1]);
  ASSERT_EQ(write(in[1], "go on forever\n", 14), 14);
  char buf[4096];
  std::string got;
  while (got.size() < 200) {  // the answer is streaming
    ssize_t n = read(outp[0], buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  kill(pid, SIGINT);
  while (got.find("stopped]") == std::string::npos) {
    ssize_t n = read(outp[0], buf, sizeof buf);
    ASSERT_GT(n, 0) << got;
    got.append(buf, static_cast<size_t>(n));
  }
  // Still chatting: another turn, then /exit.
  const char* more = "next\n/exit\n";
  ASSERT_EQ(write(in[1], more, strlen(more)), static_cast<ssize_t>(strlen(more)));
  close(in[1]);
  for (;;) {
    ssize_t n = read(outp[0], buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  close(outp[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << got.substr(got.size() > 300 ? got.size() - 300 : 0);
  EXPECT_NE(got.find("tokens, ", got.find("stopped]")), std::string::npos);  // the second answer's stats
}

}  // namespace
}  // namespace qs::test
