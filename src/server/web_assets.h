// The web chat page served at / (src/server/web/index.html, embedded by embed_web.cmake).
#pragma once

namespace qs::server {
extern const char kWebIndexHtml[];
}  // namespace qs::server
