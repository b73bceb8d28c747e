// End-to-end robustness of `qiusuo serve`: a non-streaming client that hangs up frees its slot,
// 503 when no slot frees up within --max-queue-wait, 500 when the forward pass fails (without
// disturbing the request in flight beside it), and the response fields the API promises.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "e2e_util.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;

json Chat(const std::string& user, json extra = json::object()) {
  json b = {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", user}}})}, {"max_tokens", 8}};
  b.update(extra);
  return b;
}

// POSTs JSON; a streamed 200 comes back as {"sse": body}.
json Post(int port, const std::string& path, const json& body, int* status) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  auto r = cli.Post(path.c_str(), body.dump(), "application/json");
  if (!r) {
    *status = -1;
    return json();
  }
  *status = r->status;
  if (body.value("stream", false) && r->status == 200) return json{{"sse", r->body}};
  return json::parse(r->body, nullptr, false);
}

double Metric(int port, const std::string& name) {
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get("/metrics");
  if (!r) return -1;
  size_t p = r->body.find("\n" + name + " ");
  return p == std::string::npos ? -1 : std::atof(r->body.c_str() + p + name.size() + 2);
}

// Waits up to `ms` for a metric to reach `want`; returns the last value read.
double WaitMetric(int port, const std::string& name, double want, int ms) {
  double v = Metric(port, name);
  for (int i = 0; i < ms / 20 && v != want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    v = Metric(port, name);
  }
  return v;
}

// Streams a request on its own thread; on_data sees the body so far and returns false to hang up.
std::thread StreamInBackground(int port, const std::string& path, const json& body,
                               std::function<bool(const std::string&)> on_data) {
  return std::thread([=] {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(60, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = path;
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

// The error event a stream ends with when the request failed after the 200 was sent.
json StreamError(const std::string& sse) {
  SseResult r = ParseSse(sse);
  for (auto& e : r.events)
    if (e.contains("error")) return e["error"];
  return json();
}

class Robust : public TinyV3ServerTest {};

TEST_F(Robust, NonStreamingDisconnectFreesSlot) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--parallel", "1", "--ctx", "16384"}, &err)) << err;
  // Raw socket: a long non-streaming request, then hang up while it generates (nothing has been
  // written to the client yet, so only the socket itself can tell the server).
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(s.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string body = Chat("go", {{"max_tokens", 4000}}).dump();
  std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ASSERT_EQ(WaitMetric(s.port(), "qiusuo_slots_busy", 1, 5000), 1);
  close(fd);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(WaitMetric(s.port(), "qiusuo_slots_busy", 0, 3000), 0) << "slot still busy after the client left";
  double freed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(Metric(s.port(), "qiusuo_client_disconnects_total"), 1);
  EXPECT_LT(Metric(s.port(), "qiusuo_completion_tokens_total"), 3000);
  std::printf("[disconnect] non-streaming slot freed %.0f ms after the client closed\n", freed_s * 1000);
  // The same for a request still waiting in the queue: it leaves the queue.
  std::atomic<bool> hangup{false}, started{false};
  std::thread hog = StreamInBackground(s.port(), "/v1/chat/completions", Chat("hog", {{"max_tokens", 16000}, {"stream", true}}),
                                       [&](const std::string&) {
                                         started = true;
                                         return !hangup.load();
                                       });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  ASSERT_EQ(WaitMetric(s.port(), "qiusuo_queue_length", 1, 3000), 1);
  close(fd);
  EXPECT_EQ(WaitMetric(s.port(), "qiusuo_queue_length", 0, 3000), 0) << "queued request kept its place";
  hangup = true;
  hog.join();
  // The server still answers.
  int st = 0;
  Post(s.port(), "/v1/chat/completions", Chat("next"), &st);
  EXPECT_EQ(st, 200);
}

TEST_F(Robust, Overloaded503AfterMaxQueueWait) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--parallel", "1", "--ctx", "16384", "--max-queue-wait", "0.3"}, &err)) << err;
  std::atomic<bool> hangup{false}, started{false};
  std::thread hog = StreamInBackground(s.port(), "/v1/chat/completions", Chat("hog", {{"max_tokens", 16000}, {"stream", true}}),
                                       [&](const std::string&) {
                                         started = true;
                                         return !hangup.load();
                                       });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int st = 0;
  auto t0 = std::chrono::steady_clock::now();
  json j = Post(s.port(), "/v1/chat/completions", Chat("wait"), &st);
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(st, 503) << j.dump();
  EXPECT_EQ(j["error"]["type"], "server_error");
  EXPECT_EQ(j["error"]["code"], "server_overloaded");
  EXPECT_GE(waited, 0.3);
  // Streaming: the 200 and keep-alives went out already, so the stream ends with an error event.
  json sj = Post(s.port(), "/v1/chat/completions", Chat("wait", {{"stream", true}}), &st);
  EXPECT_EQ(st, 200);
  json e = StreamError(sj.value("sse", ""));
  EXPECT_EQ(e["code"], "server_overloaded") << sj.dump();
  j = Post(s.port(), "/v1/completions", {{"prompt", "x"}, {"max_tokens", 2}}, &st);
  EXPECT_EQ(st, 503) << j.dump();
  EXPECT_EQ(Metric(s.port(), "qiusuo_queue_timeouts_total"), 3);
  // The official openai SDK raises both forms as APIError (503 status / error event).
  const std::string dir = QS_E2E_DIR;
  if (std::filesystem::exists(dir + "/node_modules/openai/package.json")) {
    std::string out;
    int rc = RunCommand("node '" + dir + "/openai_errors.mjs' http://127.0.0.1:" + std::to_string(s.port()) + "/v1 2>&1", &out);
    EXPECT_EQ(rc, 0) << out;
    EXPECT_NE(out.find("OK"), std::string::npos) << out;
  }
  hangup = true;
  hog.join();
  Post(s.port(), "/v1/chat/completions", Chat("now"), &st);
  EXPECT_EQ(st, 200);
}

// The model's vocabulary (128000) is smaller than its tokenizer's: chat prompts carry special
// tokens above it (<｜User｜> is 128803), so their forward pass fails; plain-text completions
// do not. A stand-in for any internal failure in the scheduler.
TEST_F(Robust, InternalError500LeavesOtherRequestsAlone) {
  std::string small;
  std::string err = SharedTinyModel("v3-vocab128000", "", &small, 128000);
  ASSERT_TRUE(err.empty()) << err;
  ServerProcess s;
  ASSERT_TRUE(s.Start(small, {"--parallel", "2", "--ctx", "4096"}, &err)) << err;
  const json cbody = {{"prompt", "Once upon a time"}, {"max_tokens", 300}, {"temperature", 0}};
  int st = 0;
  json ref = Post(s.port(), "/v1/completions", cbody, &st);
  ASSERT_EQ(st, 200) << ref.dump();
  // The same completion streams in the background while chat requests fail beside it.
  std::string streamed;
  std::atomic<bool> started{false};
  json sbody = cbody;
  sbody["stream"] = true;
  std::thread bg = StreamInBackground(s.port(), "/v1/completions", sbody, [&](const std::string& all) {
    streamed = all;
    started = true;
    return true;
  });
  while (!started) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  json j = Post(s.port(), "/v1/chat/completions", Chat("hi"), &st);
  EXPECT_EQ(st, 500) << j.dump();
  EXPECT_EQ(j["error"]["type"], "server_error");
  EXPECT_NE(j["error"]["message"].get<std::string>().find("outside the vocabulary"), std::string::npos) << j.dump();
  json sj = Post(s.port(), "/v1/chat/completions", Chat("hi", {{"stream", true}}), &st);
  EXPECT_EQ(st, 200);
  EXPECT_EQ(StreamError(sj.value("sse", ""))["code"], "internal_error") << sj.dump();
  bg.join();
  SseResult r = ParseSse(streamed);
  ASSERT_TRUE(r.error.empty() && r.done) << r.error;
  std::string text;
  for (auto& e : r.events) text += e["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(text, ref["choices"][0]["text"].get<std::string>());
  EXPECT_GE(Metric(s.port(), "qiusuo_http_errors_total"), 1);
  json again = Post(s.port(), "/v1/completions", cbody, &st);
  EXPECT_EQ(st, 200);
}


// The response fields the API promises, for chat and completions, streaming and not.
TEST_F(Robust, ResponseFieldsAndFinishReasons) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--parallel", "2", "--ctx", "512", "--model-id", "tiny-v3"}, &err)) << err;
  int st = 0;
  // Model names are checked now: this server's id is tiny-v3, so its requests say deepseek-chat
  // (which every server accepts) instead of the shared helper's "m".
  auto Chat = [](const std::string& user, json extra = json::object()) {
    extra["model"] = "deepseek-chat";
    return test::Chat(user, extra);
  };
  // `model` echoes the request's, defaulting to --model-id; system_fingerprint is always there.
  json a = Post(s.port(), "/v1/chat/completions", Chat("hi", {{"max_tokens", 3}, {"temperature", 0}}), &st);
  ASSERT_EQ(st, 200) << a.dump();
  EXPECT_EQ(a["model"], "deepseek-chat");
  EXPECT_TRUE(a["system_fingerprint"].is_string());
  EXPECT_TRUE(a["created"].is_number_integer());
  EXPECT_EQ(a["choices"][0]["index"], 0);
  EXPECT_TRUE(a["choices"][0]["logprobs"].is_null());  // not asked for
  const json& u = a["usage"];
  EXPECT_EQ(u["prompt_cache_hit_tokens"].get<int>() + u["prompt_cache_miss_tokens"].get<int>(), u["prompt_tokens"].get<int>());
  // max_tokens reached: "length" with exactly that many tokens (greedy random weights never
  // write the end token this early).
  EXPECT_EQ(a["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(u["completion_tokens"], 3);
  json nomodel = Chat("hi", {{"max_tokens", 1}});
  nomodel.erase("model");
  EXPECT_EQ(Post(s.port(), "/v1/chat/completions", nomodel, &st)["model"], "tiny-v3");
  httplib::Client cli("127.0.0.1", s.port());
  EXPECT_EQ(json::parse(cli.Get("/v1/models")->body)["data"][0]["id"], "tiny-v3");
  // n > 1 is refused, as are the other sampling parameters out of range; in range they run.
  json bad = Post(s.port(), "/v1/chat/completions", Chat("hi", {{"n", 2}}), &st);
  EXPECT_EQ(st, 422);
  EXPECT_EQ(bad["error"]["param"], "n");
  Post(s.port(), "/v1/chat/completions",
       Chat("hi", {{"max_tokens", 4}, {"top_k", 5}, {"min_p", 0.05}, {"frequency_penalty", 1.5},
                   {"presence_penalty", -1}, {"seed", 3}, {"top_p", 0.9}, {"temperature", 1.3}}),
       &st);
  EXPECT_EQ(st, 200);
  // Streaming without include_usage: no chunk carries usage. With it: every chunk has
  // "usage": null except the last, which has no choices and the totals.
  json sb = Chat("hi", {{"max_tokens", 4}, {"stream", true}});
  SseResult r = ParseSse(Post(s.port(), "/v1/chat/completions", sb, &st)["sse"]);
  ASSERT_TRUE(r.error.empty() && r.done) << r.error;
  for (auto& e : r.events) {
    EXPECT_FALSE(e.contains("usage")) << e.dump();
    EXPECT_EQ(e["model"], "deepseek-chat");
    EXPECT_TRUE(e["system_fingerprint"].is_string());
  }
  EXPECT_EQ(r.events.back()["choices"][0]["finish_reason"], "length");
  sb["stream_options"] = {{"include_usage", true}};
  r = ParseSse(Post(s.port(), "/v1/chat/completions", sb, &st)["sse"]);
  ASSERT_TRUE(r.error.empty() && r.done && r.events.size() >= 2) << r.error;
  for (size_t i = 0; i + 1 < r.events.size(); ++i) EXPECT_TRUE(r.events[i]["usage"].is_null()) << r.events[i].dump();
  EXPECT_TRUE(r.events.back()["choices"].empty());
  EXPECT_EQ(r.events.back()["usage"]["completion_tokens"], 4);
  // tool_choice "required" forces a call; "none" never parses one.
  json tools = json::array({{{"type", "function"},
                             {"function", {{"name", "lookup"}, {"parameters", {{"type", "object"}}}}}}});
  json req = Post(s.port(), "/v1/chat/completions",
                  Chat("find it", {{"max_tokens", 6}, {"tools", tools}, {"tool_choice", "required"}}), &st);
  ASSERT_EQ(st, 200) << req.dump();
  EXPECT_EQ(req["choices"][0]["finish_reason"], "length");  // issue 17: a call cut off by max_tokens is "length"
  EXPECT_EQ(req["choices"][0]["message"]["tool_calls"].size(), 1u);
  EXPECT_TRUE(req["choices"][0]["message"]["content"].is_null());
  json none = Post(s.port(), "/v1/chat/completions",
                   Chat("find it", {{"max_tokens", 3}, {"tools", tools}, {"tool_choice", "none"}}), &st);
  ASSERT_EQ(st, 200);
  EXPECT_FALSE(none["choices"][0]["message"].contains("tool_calls"));
  EXPECT_NE(none["choices"][0]["finish_reason"], "tool_calls");
  // Completions: stop strings cut the text, finish_reason "stop".
  json c = Post(s.port(), "/v1/completions", {{"prompt", "Once upon"}, {"max_tokens", 10}, {"temperature", 0}}, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(c["model"], "tiny-v3");
  std::string text = c["choices"][0]["text"];
  ASSERT_GE(text.size(), 4u);
  // A stop string of whole UTF-8 characters from the middle of the greedy text.
  auto boundary = [&](size_t i) {
    while (i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) ++i;
    return i;
  };
  size_t b0 = boundary(text.size() / 2), b1 = boundary(b0 + 1);
  ASSERT_LT(b0, text.size());
  std::string stop = text.substr(b0, b1 - b0);
  json cs = Post(s.port(), "/v1/completions",
                 {{"prompt", "Once upon"}, {"max_tokens", 10}, {"temperature", 0}, {"stop", {stop, "never-seen"}}}, &st);
  ASSERT_EQ(st, 200);
  EXPECT_EQ(cs["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(cs["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(Post(s.port(), "/v1/completions", {{"prompt", "x"}, {"n", 3}}, &st)["error"]["param"], "n");
  EXPECT_EQ(st, 422);
}

}  // namespace
}  // namespace qs::test
