// `qiusuo serve`: the DeepSeek/OpenAI-compatible HTTP API over the continuous-batching scheduler.
//
// Endpoints: POST /v1/chat/completions (/chat/completions), POST /beta/completions
// (/v1/completions, /completions: FIM and plain completion), GET /v1/models (/models), /health,
// /metrics (Prometheus text), / (the embedded web chat page).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace qs {
class Engine;
struct EngineOptions;
}  // namespace qs

namespace qs::server {

struct ServerOptions {
  std::string model_path;
  std::string model_id;  // name reported by /v1/models (default: the directory name)
  std::string host = "127.0.0.1";
  int port = 8080;       // 0: any free port
  std::string api_key;   // empty: no authentication; compared exactly and in constant time
  int parallel = 1;
  int64_t ctx = 4096;
  int64_t chunk = 128;
  int threads = 0;
  int max_queue = 64;
  double max_queue_wait_s = 600;  // queued longer -> 503 (DeepSeek gives up after 10 min); 0: never
  size_t cache_mb = 256;
  int spec_tokens = 0;      // speculative drafts per decode step (runtime/speculative.h); 0: off
  std::string draft_model;  // draft with this model instead of the MTP module
  std::string reasoning = "auto";  // auto | on | off: R1 defaults and the <think> split
  int max_json_depth = 128;        // deeper nesting anywhere in a request body: 400 (api.h)
  // Prefix-cache reuse across API keys / `user`s. Off: a request hits only entries made under the
  // same key and user, so prompt_cache_hit_tokens cannot reveal another client's prompt.
  bool shared_prefix_cache = false;
  // The prefix cache's disk tier (runtime/disk_cache.h): entries survive restarts. Empty: none.
  std::string cache_dir;
  uint64_t cache_dir_bytes = 10ull << 30;
  // The server-side web_search tool (server/web_search.h): the search index file; empty: off.
  std::string web_search_index;
  int web_search_results = 5;  // hits per search
  int web_search_max = 3;      // searches per request
  // Origins that get Access-Control-Allow-Origin ("*": any). Empty: same-origin only (the web
  // page at / needs no CORS).
  std::vector<std::string> cors_origins;
  // Against slow and greedy clients (server/http_guard.h): 408 past a deadline, 429 past a limit.
  double header_timeout_s = 10;
  double body_timeout_s = 60;
  int max_connections = 512;             // 0: no limit
  int max_connections_per_client = 128;  // per peer address; 0: no limit
  double shutdown_grace_s = 30;          // Shutdown(): how long requests in flight may run on
};

// Whether `key` can be an API key: printable ASCII without spaces. A space or control character
// could never be matched exactly, because HTTP strips the header value's surrounding whitespace.
Status ValidateApiKey(const std::string& key);

// The engine settings the server options ask for (slots, context, chunk, threads, queue, cache).
EngineOptions ServerEngineOptions(const ServerOptions& opt);

class Server {
 public:
  // Serves `engine` (runtime/engine.h: model, tokenizer, template, scheduler).
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& opt, std::unique_ptr<Engine> engine);
  // Opens the engine for opt.model_path first.
  static Result<std::unique_ptr<Server>> Create(const ServerOptions& opt);
  ~Server();
  // Binds the socket; returns the port (useful with port 0).
  Result<int> Bind();
  // Serves until Stop() or Shutdown() (from another thread or a signal handler thread).
  void Run();
  // Ends at once: requests in flight end with a 503 (an error event in a stream).
  void Stop();
  // Graceful: stops accepting (new connections are refused), lets requests in flight finish for
  // up to `grace_s` seconds, then ends the rest as Stop() does. Run() returns once all are done.
  void Shutdown(double grace_s);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace qs::server
