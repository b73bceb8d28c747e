// Hostile clients against `qiusuo serve` over loopback, bounded in sockets and time:
//  * a slow-header flood (a byte a second on 150 sockets) does not starve /health: every probe
//    from another address is answered within 1 s, the flood's extra sockets get 429 at once and
//    the admitted ones 408 at --header-timeout; a body sent too slowly gets 408 at --body-timeout;
//    beyond --max-connections in total, 429 too;
//  * graceful shutdown: on SIGTERM a stream in flight finishes normally, new connections are
//    refused and the process exits 0; with a short --shutdown-grace the stream ends with an error
//    event instead, and the exit is still 0; a second signal exits at once.
// Loopback has every 127.x.y.z address, so the flood and the probes come from different peers.
#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <thread>

#include "e2e_util.h"
#include "testutil.h"

namespace qs::test {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A TCP connection to 127.0.0.1:port from the source address `from` (e.g. "127.0.0.2"); -1 on failure.
int ConnectFrom(const char* from, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, from, &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads until the server closes or `timeout_s` passes.
std::string ReadAll(int fd, double timeout_s) {
  std::string out;
  auto t0 = Clock::now();
  char buf[4096];
  while (Since(t0) < timeout_s) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

// One raw GET from `from`; the whole answer ("" if none within timeout_s).
std::string Get(const char* from, int port, const std::string& path, double timeout_s) {
  int fd = ConnectFrom(from, port);
  if (fd < 0) return "";
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  std::string out;
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) out = ReadAll(fd, timeout_s);
  close(fd);
  return out;
}

double Metric(int port, const std::string& name) {
  std::string r = Get("127.0.0.2", port, "/metrics", 2);
  size_t p = r.find("\n" + name + " ");
  return p == std::string::npos ? -1 : std::atof(r.c_str() + p + name.size() + 2);
}

class RobustHostile : public TinyV3ServerTest {};

TEST_F(RobustHostile, SlowClientsAreCutAndHealthStaysUp) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--header-timeout", "3", "--body-timeout", "2", "--max-connections-per-client", "64"}, &err))
      << err;
  const int kFlood = 150;
  std::vector<int> flood;
  for (int i = 0; i < kFlood; ++i) {
    int fd = ConnectFrom("127.0.0.3", s.port());
    ASSERT_GE(fd, 0) << "flood socket " << i;
    flood.push_back(fd);
  }
  // The flood: one more header byte per socket per second, for 8 s, on its own thread.
  std::atomic<bool> flood_done{false};
  std::thread flooder([&] {
    const std::string head = "GET /health HTTP/1.1\r\nHost: slow\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    for (size_t k = 0; k < 8; ++k) {
      for (int fd : flood) (void)send(fd, &head[k % head.size()], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    flood_done = true;
  });
  // The flood's own address is over its limit: a clear 429 at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto t429 = Clock::now();
  std::string over = Get("127.0.0.3", s.port(), "/health", 2);
  EXPECT_LT(Since(t429), 1.0);
  EXPECT_NE(over.find(" 429 "), std::string::npos) << over;
  EXPECT_NE(over.find("--max-connections-per-client"), std::string::npos) << over;
  // Probes from another address every 200 ms while the flood runs: each answered within 1 s.
  int probes = 0, slow = 0;
  double worst = 0;
  while (!flood_done) {
    auto t0 = Clock::now();
    std::string r = Get("127.0.0.2", s.port(), "/health", 2);
    double dt = Since(t0);
    worst = std::max(worst, dt);
    probes++;
    if (r.find(" 200 ") == std::string::npos || dt > 1.0) slow++;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  flooder.join();
  std::printf("[flood] %d health probes during an 8 s slow-header flood of %d sockets, worst %.0f ms\n", probes, kFlood,
              worst * 1000);
  EXPECT_GE(probes, 20);
  EXPECT_EQ(slow, 0) << "probes not answered 200 within 1 s (worst " << worst << " s)";
  // Every flood socket was cut: 86 refused at once, 64 timed out after 3 s.
  int closed = 0;
  for (int fd : flood) {
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) closed++;
    close(fd);
  }
  EXPECT_EQ(closed, kFlood) << "flood sockets the server did not close";
  EXPECT_GE(Metric(s.port(), "qiusuo_connections_rejected_total"), kFlood - 64 + 1);  // + the 429 probe
  EXPECT_GE(Metric(s.port(), "qiusuo_request_timeouts_total"), 64);

  // A body sent too slowly: 408 naming --body-timeout, about 2 s after the headers.
  int fd = ConnectFrom("127.0.0.4", s.port());
  ASSERT_GE(fd, 0);
  std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
  ASSERT_EQ(send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  auto tb = Clock::now();
  std::string answer;
  for (int i = 0; i < 10 && answer.empty(); ++i) {  // a byte every 500 ms: never idle, never done
    (void)send(fd, " ", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    answer = ReadAll(fd, 0.5);
  }
  double body_s = Since(tb);
  close(fd);
  EXPECT_NE(answer.find(" 408 "), std::string::npos) << answer;
  EXPECT_NE(answer.find("--body-timeout"), std::string::npos) << answer;
  EXPECT_GT(body_s, 1.5);
  EXPECT_LT(body_s, 3.5);
}

TEST_F(RobustHostile, TotalConnectionLimitAnswers429AndFrees) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--max-connections", "4", "--max-connections-per-client", "0"}, &err)) << err;
  std::vector<int> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(ConnectFrom("127.0.0.5", s.port()));
    ASSERT_GE(idle.back(), 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all four admitted
  auto t0 = Clock::now();
  std::string over = Get("127.0.0.2", s.port(), "/health", 2);
  EXPECT_LT(Since(t0), 1.0);
  EXPECT_NE(over.find(" 429 "), std::string::npos) << over;
  EXPECT_NE(over.find("--max-connections 4"), std::string::npos) << over;
  for (int fd : idle) close(fd);
  // Their slots free as soon as the server sees them go.
  std::string ok;
  for (int i = 0; i < 20 && ok.find(" 200 ") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ok = Get("127.0.0.2", s.port(), "/health", 2);
  }
  EXPECT_NE(ok.find(" 200 "), std::string::npos) << ok;
}

// Streams `body` on a thread into *out; *first is set once the first bytes arrived.
std::thread Stream(int port, const json& body, std::string* out, std::atomic<bool>* first) {
  return std::thread([=] {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(60, 0);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = body.dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [=](const char* d, size_t n, uint64_t, uint64_t) {
      out->append(d, n);
      *first = true;
      return true;
    };
    httplib::Response res;
    httplib::Error e;
    cli.send(req, res, e);
  });
}

json Chat(int max_tokens) {
  return {{"messages", json::array({{{"role", "user"}, {"content", "tell me a long story"}}})},
          {"max_tokens", max_tokens},
          {"stream", true}};
}

TEST_F(RobustHostile, SigtermLetsStreamsFinishAndExitsZero) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--ctx", "16384", "--shutdown-grace", "30"}, &err)) << err;
  std::string sse;
  std::atomic<bool> first{false};
  std::thread t = Stream(s.port(), Chat(1500), &sse, &first);
  auto t0 = Clock::now();
  while (!first && Since(t0) < 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(first);
  ASSERT_EQ(kill(s.pid(), SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  int fd = ConnectFrom("127.0.0.2", s.port());
  EXPECT_LT(fd, 0) << "a new connection was accepted after SIGTERM";
  if (fd >= 0) close(fd);
  t.join();
  int status = s.Wait(10);
  ASSERT_NE(status, -1) << "serve did not exit";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
  SseResult r = ParseSse(sse);
  EXPECT_TRUE(r.done) << sse.substr(sse.size() > 400 ? sse.size() - 400 : 0);
  EXPECT_TRUE(r.error.empty()) << r.error;
  std::string finish;
  int chunks = 0;
  for (auto& e : r.events) {
    EXPECT_FALSE(e.contains("error")) << e.dump();
    if (e.contains("choices") && !e["choices"].empty()) {
      chunks++;
      if (e["choices"][0]["finish_reason"].is_string()) finish = e["choices"][0]["finish_reason"];
    }
  }
  EXPECT_TRUE(finish == "length" || finish == "stop") << finish;
  std::printf("[shutdown] the stream in flight finished after SIGTERM: %d chunks, finish_reason %s\n", chunks,
              finish.c_str());
}

TEST_F(RobustHostile, ShortGraceEndsLongStreamWithErrorEvent) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--ctx", "16384", "--shutdown-grace", "1"}, &err)) << err;
  std::string sse;
  std::atomic<bool> first{false};
  std::thread t = Stream(s.port(), Chat(16000), &sse, &first);
  auto t0 = Clock::now();
  while (!first && Since(t0) < 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(first);
  auto tk = Clock::now();
  ASSERT_EQ(kill(s.pid(), SIGTERM), 0);
  t.join();
  int status = s.Wait(10);
  double exit_s = Since(tk);
  ASSERT_NE(status, -1) << "serve did not exit";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "wait status " << status;
  EXPECT_GT(exit_s, 0.8);
  EXPECT_LT(exit_s, 5.0);
  SseResult r = ParseSse(sse);
  EXPECT_TRUE(r.done);
  ASSERT_FALSE(r.events.empty());
  const json& last = r.events.back();
  ASSERT_TRUE(last.contains("error")) << last.dump();
  EXPECT_EQ(last["error"]["code"], "server_overloaded");
  EXPECT_NE(last["error"]["message"].get<std::string>().find("shutting down"), std::string::npos);
}

TEST_F(RobustHostile, SecondSignalExitsAtOnce) {
  ServerProcess s;
  std::string err;
  ASSERT_TRUE(s.Start(model_, {"--ctx", "16384", "--shutdown-grace", "60"}, &err)) << err;
  std::string sse;
  std::atomic<bool> first{false};
  std::thread t = Stream(s.port(), Chat(16000), &sse, &first);
  auto t0 = Clock::now();
  while (!first && Since(t0) < 10) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(first);
  ASSERT_EQ(kill(s.pid(), SIGTERM), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(s.Wait(0.1), -1) << "exited before the stream was done, within its 60 s grace";
  auto tk = Clock::now();
  ASSERT_EQ(kill(s.pid(), SIGTERM), 0);
  int status = s.Wait(5);
  t.join();
  ASSERT_NE(status, -1) << "serve did not exit on the second signal";
  EXPECT_LT(Since(tk), 2.0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) << "wait status " << status;
}

}  // namespace
}  // namespace qs::test
