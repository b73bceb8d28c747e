// Connection limits for cpp-httplib 0.11, which has none that hold against slow clients: its read
// timeout restarts on every byte, so a client sending its headers a byte a second holds a worker
// forever, and 200 of them hold every worker (health probes then fail).
//
// GuardedHttpServer replaces httplib's per-connection loop (process_and_close_socket, a virtual
// that httplib's accept loop calls for each accepted socket) with one that
//  * admits a connection only within --max-connections in total and
//    --max-connections-per-client per peer address; beyond, it answers 429 at once and closes
//    (microseconds on a worker, so a flood cannot starve the others);
//  * reads through a stream with a deadline for the whole request head (--header-timeout) and,
//    once the headers are in, for the whole body (--body-timeout); past it the client gets 408;
//  * runs on a pool that grows up to the connection limit, so every admitted connection has a
//    thread and /health is answered whatever the others do.
// It also serves graceful shutdown: after stop(), idle keep-alive connections close within
// ~50 ms, and CutReading() ends connections still sending a request.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace qs::server {

struct ConnectionLimits {
  double header_timeout_s = 10;     // request line + headers, from the first wait for them
  double body_timeout_s = 60;       // the whole body, from the end of the headers
  int max_connections = 512;        // in total; 0: no limit
  int max_connections_per_client = 128;  // per peer address; 0: no limit
};

class GuardedHttpServer : public httplib::Server {
 public:
  GuardedHttpServer();
  void SetLimits(const ConnectionLimits& l);
  // Called on a worker thread once a request's headers are read (the pre-routing handler): the
  // body deadline starts.
  static void HeadersRead();
  int active_connections() const;
  // After binding: httplib 0.11 listens with a backlog of 5, so a burst of connections (a flood,
  // or just many clients at once) overflows the accept queue and the kernel drops handshakes,
  // stalling honest clients for seconds of SYN retries. Listening again widens it.
  void WidenBacklog();
  // Ends every connection still reading a request (its deadline becomes now). Handlers are not
  // affected: they do not read through the stream.
  void CutReading();

  std::atomic<uint64_t> rejected{0};  // connections answered 429 by the limits
  std::atomic<uint64_t> timeouts{0};  // requests answered 408 (header or body too slow)

  struct Conn;

 private:
  bool process_and_close_socket(socket_t sock) override;
  bool Admit(const std::string& peer, std::string* why);
  void Release(const std::string& peer);

  ConnectionLimits limits_;
  mutable std::mutex mu_;
  std::map<std::string, int> per_peer_;
  std::set<Conn*> conns_;
};

}  // namespace qs::server
