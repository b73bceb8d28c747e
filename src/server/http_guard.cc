#include "server/http_guard.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

namespace qs::server {

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() { return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count(); }
int64_t SecondsNs(double s) { return static_cast<int64_t>(s * 1e9); }

// A task queue whose threads grow on demand up to `cap` (httplib's ThreadPool has a fixed count,
// and a connection waiting for a free thread is exactly what slow clients cause). Threads stay
// once started; the cap bounds them.
class GrowingPool : public httplib::TaskQueue {
 public:
  explicit GrowingPool(size_t cap) : cap_(std::max<size_t>(cap, 4)) {}
  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lk(mu_);
    jobs_.push_back(std::move(fn));
    // Each waiting thread takes one job (a woken one leaves idle_ as it pops), so more jobs than
    // waiting threads means a new thread.
    if (jobs_.size() > idle_ && threads_.size() < cap_) threads_.emplace_back([this] { Work(); });
    else cv_.notify_one();
  }
  void shutdown() override {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();  // enqueue is no longer called: the accept loop has ended
  }

 private:
  void Work() {
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (jobs_.empty()) {
        if (stop_) return;
        ++idle_;
        cv_.wait(lk, [&] { return stop_ || !jobs_.empty(); });
        --idle_;
        continue;
      }
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      lk.unlock();
      fn();  // every job owns an accepted socket and closes it, so all run, even when stopping
      lk.lock();
    }
  }
  const size_t cap_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stop_ = false;
};

bool NumericAddress(int fd, bool peer, std::string* ip, int* port) {
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) : getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  if (r != 0) return false;
  char h[NI_MAXHOST], p[NI_MAXSERV];
  if (getnameinfo(reinterpret_cast<sockaddr*>(&a), len, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return false;
  *ip = h;
  *port = std::atoi(p);
  return true;
}

// Best effort: the client may already be gone, and a hostile one must not block us.
void SendRaw(int fd, int status, const char* reason, const std::string& message, const std::string& code) {
  std::string body = R"({"error":{"message":")" + message + R"(","type":")" +
                     (status == 429 ? "rate_limit_error" : "invalid_request_error") + R"(","param":null,"code":")" +
                     code + "\"}}";
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + reason +
                  "\r\nContent-Type: application/json\r\nConnection: close\r\n" +
                  (status == 429 ? "Retry-After: 1\r\n" : "") + "Content-Length: " +
                  std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)send(fd, r.data(), r.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

}  // namespace

struct GuardedHttpServer::Conn {
  int fd = -1;
  std::atomic<int64_t> deadline_ns{0};
  bool timed_out = false;
  bool in_body = false;
  double body_timeout_s = 60;
};

namespace {

thread_local GuardedHttpServer::Conn* tls_conn = nullptr;

// httplib's SocketStream with a deadline over all reads of one request, read in slices so that
// CutReading's new deadline is seen within 50 ms. Buffered: httplib reads the head a byte at a time.
class DeadlineStream : public httplib::Stream {
 public:
  DeadlineStream(GuardedHttpServer::Conn* c, time_t rsec, time_t rusec, time_t wsec, time_t wusec)
      : c_(c), read_ms_(rsec * 1000 + rusec / 1000), write_ms_(wsec * 1000 + wusec / 1000) {}
  bool is_readable() const override { return pos_ < len_ || Wait() > 0; }
  bool is_writable() const override {
    if (c_->timed_out) return false;
    pollfd p{c_->fd, POLLOUT, 0};
    return poll(&p, 1, static_cast<int>(std::max<int64_t>(write_ms_, 1))) > 0 && !(p.revents & (POLLERR | POLLHUP | POLLNVAL));
  }
  ssize_t read(char* ptr, size_t size) override {
    if (pos_ >= len_) {
      if (Wait() <= 0) return -1;
      ssize_t n = recv(c_->fd, buf_, sizeof buf_, 0);
      if (n <= 0) return n;
      pos_ = 0;
      len_ = static_cast<size_t>(n);
    }
    size_t n = std::min(size, len_ - pos_);
    std::copy(buf_ + pos_, buf_ + pos_ + n, ptr);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  // Once the deadline has passed, httplib's own answer (400) is dropped: the caller sends 408.
  ssize_t write(const char* ptr, size_t size) override {
    if (c_->timed_out || !is_writable()) return -1;
    return send(c_->fd, ptr, size, MSG_NOSIGNAL);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { NumericAddress(c_->fd, true, &ip, &port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { NumericAddress(c_->fd, false, &ip, &port); }
  socket_t socket() const override { return c_->fd; }

 private:
  // >0 readable, 0 idle for the read timeout, <0 deadline passed or error.
  int Wait() const {
    const int64_t idle_until = NowNs() + read_ms_ * 1000000;
    for (;;) {
      const int64_t now = NowNs();
      if (now >= c_->deadline_ns.load()) {
        c_->timed_out = true;
        return -1;
      }
      if (now >= idle_until) return 0;
      const int64_t slice = std::min<int64_t>({c_->deadline_ns.load() - now, idle_until - now, 50000000});
      pollfd p{c_->fd, POLLIN, 0};
      int r = poll(&p, 1, static_cast<int>(std::max<int64_t>(slice / 1000000, 1)));
      if (r > 0) return 1;
      if (r < 0 && errno != EINTR) return -1;
    }
  }
  GuardedHttpServer::Conn* c_;
  int64_t read_ms_, write_ms_;
  char buf_[4096];
  size_t pos_ = 0, len_ = 0;
};

}  // namespace

GuardedHttpServer::GuardedHttpServer() { SetLimits(ConnectionLimits{}); }

void GuardedHttpServer::SetLimits(const ConnectionLimits& l) {
  limits_ = l;
  // Every admitted connection gets a thread at once; a few more answer the refused ones.
  const size_t cap = l.max_connections > 0 ? static_cast<size_t>(l.max_connections) + 16 : 4096;
  new_task_queue = [cap] { return new GrowingPool(cap); };
}

void GuardedHttpServer::HeadersRead() {
  if (Conn* c = tls_conn; c && !c->in_body) {
    c->in_body = true;
    c->deadline_ns = NowNs() + SecondsNs(c->body_timeout_s);
  }
}

void GuardedHttpServer::WidenBacklog() {
  if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, SOMAXCONN);
}

int GuardedHttpServer::active_connections() const {
  std::lock_guard<std::mutex> lk(mu_);
  return static_cast<int>(conns_.size());
}

void GuardedHttpServer::CutReading() {
  std::lock_guard<std::mutex> lk(mu_);
  for (Conn* c : conns_) c->deadline_ns = NowNs();
}

bool GuardedHttpServer::Admit(const std::string& peer, std::string* why) {
  std::lock_guard<std::mutex> lk(mu_);
  if (limits_.max_connections > 0 && static_cast<int>(conns_.size()) >= limits_.max_connections) {
    *why = "too many connections to this server (--max-connections " + std::to_string(limits_.max_connections) + ")";
    return false;
  }
  int& n = per_peer_[peer];
  if (limits_.max_connections_per_client > 0 && n >= limits_.max_connections_per_client) {
    if (n == 0) per_peer_.erase(peer);
    *why = "too many connections from your address (--max-connections-per-client " +
           std::to_string(limits_.max_connections_per_client) + ")";
    return false;
  }
  ++n;
  return true;
}

void GuardedHttpServer::Release(const std::string& peer) {
  std::lock_guard<std::mutex> lk(mu_);
  auto it = per_peer_.find(peer);
  if (it != per_peer_.end() && --it->second <= 0) per_peer_.erase(it);
}

// httplib's process_server_socket loop (keep-alive up to keep_alive_max_count_ requests, each
// through process_request), with admission, deadlines and the 408/429 answers added.
bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  std::string peer;
  int port = 0;
  NumericAddress(sock, true, &peer, &port);
  std::string why;
  bool ret = false;
  if (!Admit(peer, &why)) {
    rejected++;
    SendRaw(sock, 429, "Too Many Requests", why, "rate_limit_exceeded");
    // Closing with the request unread would send a reset that can discard the 429 before the
    // client reads it: end our side, then drain what came for at most 20 ms.
    shutdown(sock, SHUT_WR);
    const int64_t until = NowNs() + 20000000;
    char buf[4096];
    for (pollfd p{sock, POLLIN, 0}; NowNs() < until && poll(&p, 1, 5) >= 0;) {
      if ((p.revents & POLLIN) && recv(sock, buf, sizeof buf, MSG_DONTWAIT) <= 0) break;
    }
  } else {
    Conn c;
    c.fd = sock;
    c.body_timeout_s = limits_.body_timeout_s;
    c.deadline_ns = NowNs() + SecondsNs(limits_.header_timeout_s);
    {
      std::lock_guard<std::mutex> lk(mu_);
      conns_.insert(&c);
    }
    tls_conn = &c;
    for (size_t count = keep_alive_max_count_; count > 0 && svr_sock_ != INVALID_SOCKET; --count) {
      // The header deadline covers the wait for the request too (the first one's starts at accept).
      if (count != keep_alive_max_count_) c.deadline_ns = NowNs() + SecondsNs(limits_.header_timeout_s);
      // Wait for the next request in short slices, so that stop() closes idle connections fast.
      bool readable = false;
      const int64_t idle_until = NowNs() + SecondsNs(static_cast<double>(keep_alive_timeout_sec_));
      while (!readable && svr_sock_ != INVALID_SOCKET && NowNs() < idle_until && NowNs() < c.deadline_ns.load()) {
        pollfd p{sock, POLLIN, 0};
        readable = poll(&p, 1, 50) > 0;
      }
      if (!readable) break;
      c.in_body = false;
      bool connection_closed = false;
      DeadlineStream strm(&c, read_timeout_sec_, read_timeout_usec_, write_timeout_sec_, write_timeout_usec_);
      ret = process_request(strm, count == 1, connection_closed, nullptr);
      if (c.timed_out) {
        timeouts++;
        SendRaw(sock, 408, "Request Timeout",
                c.in_body ? "request body not received within --body-timeout"
                          : "request headers not received within --header-timeout",
                "request_timeout");
        ret = false;
      }
      if (!ret || connection_closed) break;
    }
    tls_conn = nullptr;
    {
      std::lock_guard<std::mutex> lk(mu_);
      conns_.erase(&c);
    }
    Release(peer);
  }
  shutdown(sock, SHUT_RDWR);
  close(sock);
  return ret;
}

}  // namespace qs::server
