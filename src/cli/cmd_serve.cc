// qiusuo serve: the DeepSeek/OpenAI-compatible HTTP server (src/server/).
#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/command.h"
#include "cli/common.h"
#include "runtime/engine.h"
#include "server/server.h"

namespace qs::cli {
namespace {

int Run(server::ServerOptions o, const std::string& api_key_file) {
  o.threads = Threads(o.threads);
  auto key = ResolveApiKey(o.api_key, api_key_file);
  if (!key.ok()) return Fail(key.status());
  o.api_key = *key;
  if (Status st = server::ValidateApiKey(o.api_key); !st.ok()) return Fail(st);
  // SIGINT/SIGTERM are taken by a waiting thread (blocked here before any thread starts, so every
  // thread inherits the mask) which stops the server cleanly.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a client that goes away must not kill the server
  // The engine (model, tokenizer, template, threads, scheduler) starts its threads after the mask.
  auto engine = Engine::Open(o.model_path, server::ServerEngineOptions(o));
  if (!engine.ok()) return Fail(engine.status());
  auto srv = server::Server::Create(o, std::move(engine).value());
  if (!srv.ok()) return Fail(srv.status());
  auto port = (*srv)->Bind();
  if (!port.ok()) return Fail(port.status());
  std::printf("qiusuo: listening on http://%s:%d\n", o.host.c_str(), *port);
  std::fflush(stdout);
  server::Server* s = srv->get();
  // SIGTERM/SIGINT: stop accepting, let requests in flight finish within --shutdown-grace, end
  // the rest with an error; Run() returns once every connection is done, and we exit 0.
  static std::atomic<bool> signalled{false};  // static: a detached waiter may outlive this frame
  const double grace = o.shutdown_grace_s;
  std::thread sig([s, set, grace] {
    int sig = 0;
    sigwait(&set, &sig);
    signalled = true;
    std::fprintf(stderr, "qiusuo: signal %d: shutting down (up to %g s for requests in flight; again to exit now)\n",
                 sig, grace);
    // A second signal (Ctrl-C twice) does not wait for the grace period.
    std::thread([set] {
      int again = 0;
      sigwait(&set, &again);
      std::fprintf(stderr, "qiusuo: signal %d again: exiting now\n", again);
      std::_Exit(128 + again);
    }).detach();
    s->Shutdown(grace);
  });
  s->Run();
  // The signal thread may still be in Shutdown() (it ends the engine after Run's last request),
  // and it uses the server: wait for it before the server goes. Without a signal (the listener
  // failed) nothing will wake it, so it is left to exit with the process.
  if (signalled) sig.join();
  else sig.detach();
  return 0;
}

}  // namespace

QS_COMMAND(serve, "serve", "DeepSeek/OpenAI-compatible HTTP API server with a web chat page", [](CLI::App* app) {
  auto o = std::make_shared<server::ServerOptions>();
  app->add_option("--model,-m", o->model_path, "model directory")->required();
  app->add_option("--host", o->host, "address to listen on");
  app->add_option("--port", o->port, "port (0: any free port, printed on stdout)")->check(CLI::Range(0, 65535));
  auto key_file = std::make_shared<std::string>();
  app->add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY' (env QIUSUO_API_KEY)");
  app->add_option("--api-key-file", *key_file, "read the API key from the first line of this file");
  app->add_option("--max-json-depth", o->max_json_depth, "deepest JSON nesting a request may have (400 beyond)")
      ->check(CLI::Range(2, 4096));  // far deeper overflows the stack again (10^5 does)
  app->add_flag("--shared-prefix-cache", o->shared_prefix_cache,
                "let requests of different API keys / users reuse each other's prompt prefixes "
                "(prompt_cache_hit_tokens then reveals whether a prefix was seen)");
  app->add_option("--cors-origin", o->cors_origins,
                  "origin allowed to call the API from a browser (repeatable or comma-separated; '*': any)")
      ->delimiter(',');
  app->add_option("--parallel,-p", o->parallel, "sequence slots (continuous batching)")->check(CLI::Range(1, 256));
  app->add_option("--ctx,-c", o->ctx, "context tokens per slot")->check(CLI::Range(16, 1 << 24));
  app->add_option("--chunk", o->chunk, "prompt tokens per slot per scheduler step")->check(CLI::Range(1, 1 << 16));
  app->add_option("--threads,-t", o->threads, "compute threads (default: all cores)");
  app->add_option("--max-queue", o->max_queue, "requests that may wait for a slot before 429")->check(CLI::Range(0, 1 << 16));
  app->add_option("--max-queue-wait", o->max_queue_wait_s,
                  "seconds a request may wait for a slot before 503 'Server overloaded' (0: forever)")
      ->check(CLI::Range(0.0, 1e7));
  app->add_option("--header-timeout", o->header_timeout_s,
                  "seconds a client has to send a request's line and headers, else 408")
      ->check(CLI::Range(0.1, 3600.0));
  app->add_option("--body-timeout", o->body_timeout_s, "seconds a client has to send a request body, else 408")
      ->check(CLI::Range(0.1, 86400.0));
  app->add_option("--max-connections", o->max_connections, "open connections in total; more are answered 429 (0: no limit)")
      ->check(CLI::Range(0, 1 << 20));
  app->add_option("--max-connections-per-client", o->max_connections_per_client,
                  "open connections from one address; more are answered 429 (0: no limit)")
      ->check(CLI::Range(0, 1 << 20));
  app->add_option("--shutdown-grace", o->shutdown_grace_s,
                  "on SIGTERM/SIGINT, seconds requests in flight may run on before they end with an error")
      ->check(CLI::Range(0.0, 86400.0));
  app->add_option("--cache-mb", o->cache_mb, "prefix cache budget in MiB");
  app->add_option("--cache-dir", o->cache_dir,
                  "directory for the prefix cache's disk tier (kept across restarts; one subdirectory per model)");
  app->add_option("--cache-dir-bytes", o->cache_dir_bytes, "bound on --cache-dir per model (e.g. 10GiB; default 10GiB)")
      ->transform(CLI::AsSizeValue(false));
  app->add_option("--web-search-index", o->web_search_index,
                  "enable the server-side web_search tool over this index (made with `qiusuo search-index add`)");
  app->add_option("--web-search-results", o->web_search_results, "results per web search")->check(CLI::Range(1, 20));
  app->add_option("--web-search-max", o->web_search_max, "web searches per request")->check(CLI::Range(1, 10));
  app->add_option("--spec-tokens", o->spec_tokens,
                  "speculative decoding: drafts per step from the MTP module or --draft-model (0: off)")
      ->check(CLI::Range(0, 8));
  app->add_option("--draft-model", o->draft_model, "draft model (same vocabulary) for --spec-tokens, instead of MTP");
  app->add_option("--model-id", o->model_id, "model name reported by /v1/models");
  app->add_option("--reasoning", o->reasoning, "auto | on | off: <think> split and R1 sampling defaults")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  return [o, key_file] { return Run(*o, *key_file); };
});

}  // namespace qs::cli
