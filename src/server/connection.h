// Noticing that the client of a non-streaming request has gone away.
//
// cpp-httplib 0.11 gives a handler no handle on its connection: a streaming reply learns of a
// closed client when a write fails, but a non-streaming one writes nothing until the answer is
// complete, so without this a request whose client left would keep its slot until max_tokens.
// Newer cpp-httplib (>= 0.15) adds Request::is_connection_closed, which peeks at the socket; this
// does the same by finding the accepted socket from the addresses httplib records in the Request.
#pragma once

#include <httplib.h>

namespace qs::server {

// The connected socket serving `req` (matched on its remote and local address and port), or -1.
// The descriptor stays valid while the handler runs: httplib closes it after the handler returns.
int FindRequestSocket(const httplib::Request& req);

// True once the peer has closed (or reset) the connection. Never blocks; pipelined bytes waiting
// to be read count as alive.
bool PeerClosed(int fd);

}  // namespace qs::server
