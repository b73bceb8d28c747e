#include "server/connection.h"

#include <dirent.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdlib>
#include <string>

namespace qs::server {

namespace {

// Numeric host and port of a socket address, written the way httplib writes Request::remote_addr
// (getnameinfo with NI_NUMERICHOST).
bool HostPort(const sockaddr_storage& a, socklen_t len, std::string* host, int* port) {
  char h[NI_MAXHOST];
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&a), len, h, sizeof h, nullptr, 0, NI_NUMERICHOST) != 0)
    return false;
  *host = h;
  if (a.ss_family == AF_INET) *port = ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  else if (a.ss_family == AF_INET6) *port = ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
  else return false;
  return true;
}

}  // namespace

int FindRequestSocket(const httplib::Request& req) {
  if (req.remote_port <= 0) return -1;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd < 0 || fd == dirfd(d)) continue;
    sockaddr_storage peer{}, self{};
    socklen_t pl = sizeof peer, sl = sizeof self;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &pl) != 0) continue;  // not connected
    std::string host;
    int port = 0;
    if (!HostPort(peer, pl, &host, &port) || port != req.remote_port || host != req.remote_addr) continue;
    if (req.local_port > 0) {
      if (getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&self), &sl) != 0) continue;
      if (!HostPort(self, sl, &host, &port) || port != req.local_port) continue;
    }
    found = static_cast<int>(fd);
    break;
  }
  closedir(d);
  return found;
}

bool PeerClosed(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
  int r = poll(&p, 1, 0);
  if (r < 0) return errno == EBADF;
  if (r == 0) return false;  // nothing to read, no hang-up: the client is waiting
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
  char c;
  ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n > 0) return false;  // a pipelined request: still there
  if (n == 0) return true;  // orderly shutdown (EOF)
  return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace qs::server
