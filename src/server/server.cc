#include "server/server.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <string_view>
#include <thread>

#include "base/hash.h"
#include "base/log.h"
#include "chat/chat_prompt.h"
#include "chat/protocol.h"
#include "server/server_impl.h"
#include "server/web_assets.h"

namespace qs::server {

using nlohmann::json;

std::shared_ptr<const VocabBytes> Server::Impl::Vocab() {
  std::lock_guard<std::mutex> lk(vocab_mu);
  if (!vocab_bytes) vocab_bytes = VocabBytes::Build(*tok);
  return vocab_bytes;
}

std::string Server::Impl::NewId(const char* prefix) {
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%llx%04llx", prefix, static_cast<unsigned long long>(now),
                static_cast<unsigned long long>(id_counter.fetch_add(1) & 0xffff));
  return buf;
}

void Server::Impl::SendError(httplib::Response& res, const ApiError& e) {
  http_errors++;
  res.status = e.status;
  // When to try again, for clients that honour it (the OpenAI SDKs' retry loop reads it).
  if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(Dump(e.ToJson()), "application/json");
}

namespace {
// Equality that takes the same time wherever the first difference is, so response times do not
// reveal how much of a guessed key is right. Runs over the longer length; lengths are compared too.
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = a.size() != b.size() ? 1 : 0;
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// The bearer token exactly as sent: no trimming, no case folding of the token.
std::string_view BearerToken(const std::string& header) {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.compare(0, kBearer.size(), kBearer) != 0) return {};
  return std::string_view(header).substr(kBearer.size());
}
}  // namespace

Status ValidateApiKey(const std::string& key) {
  for (unsigned char c : key)
    if (c <= 0x20 || c >= 0x7f)
      return InvalidArgument("the API key must be printable ASCII without spaces or line breaks");
  return Status::Ok();
}

uint64_t Server::Impl::CacheNamespace(const httplib::Request& req, const std::string& user) const {
  if (opt.shared_prefix_cache) return 0;
  // The key as presented (with --api-key it is the configured one; without, clients that send
  // different keys still do not share) and the request's `user`, kept apart by a separator
  // neither can hold unescaped.
  std::string id(BearerToken(req.get_header_value("Authorization")));
  id += '\n';
  id += user;
  // FNV-1a, not std::hash: the value names entries in the disk cache, so it must be the same in
  // every build and run.
  return Fnv1a64(id) | 1;  // never 0, the shared namespace
}

bool Server::Impl::Authorized(const httplib::Request& req, httplib::Response& res) {
  if (opt.api_key.empty()) return true;
  std::string h = req.get_header_value("Authorization");
  if (ConstantTimeEquals(BearerToken(h), opt.api_key)) return true;
  ApiError e;
  e.status = 401;
  e.type = "authentication_error";
  e.code = "invalid_api_key";
  e.message = h.empty() ? "Authentication Fails (no API key given: send 'Authorization: Bearer <key>')"
                        : "Authentication Fails, your API key is invalid";
  SendError(res, e);
  return false;
}

void Server::Impl::Routes() {
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    GuardedHttpServer::HeadersRead();  // the headers are in: the body deadline starts
    http_requests++;
    // CORS only for the origins --cors-origin names: without it, a page on another site cannot
    // read the answers (or use a browser's access to a loopback server). Same-origin requests,
    // such as the web page at /, need no header.
    const std::string origin = req.get_header_value("Origin");
    std::string allow;
    for (const std::string& o : opt.cors_origins) {
      if (o == "*") allow = "*";
      else if (!origin.empty() && o == origin && allow.empty()) allow = origin;
    }
    if (!allow.empty()) {
      res.set_header("Access-Control-Allow-Origin", allow);
      if (allow != "*") res.set_header("Vary", "Origin");
    }
    ApiHeaders(req, res, !allow.empty());  // x-request-id, CORS preflight (server/api_routes.cc)
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http.Options(R"(.*)", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  auto chat = [this](const httplib::Request& q, httplib::Response& r) {
    if (Authorized(q, r)) HandleChat(q, r);
  };
  auto completion = [this](const httplib::Request& q, httplib::Response& r) {
    if (Authorized(q, r)) HandleCompletion(q, r);
  };
  http.Post("/v1/chat/completions", chat);
  http.Post("/chat/completions", chat);
  http.Post("/beta/completions", completion);
  http.Post("/v1/completions", completion);
  http.Post("/completions", completion);
  auto models = [this](const httplib::Request& q, httplib::Response& r) {
    if (!Authorized(q, r)) return;
    json m = {{"id", opt.model_id}, {"object", "model"}, {"owned_by", "qiusuo"}, {"created", 0}};
    r.set_content(Dump(json{{"object", "list"}, {"data", json::array({m})}}), "application/json");
  };
  http.Get("/v1/models", models);
  http.Get("/models", models);
  ApiRoutes();
  http.Get("/health", [this](const httplib::Request&, httplib::Response& r) {
    SchedulerStats s = sched->Stats();
    r.set_content(Dump(json{{"status", "ok"}, {"model", opt.model_id}, {"slots", opt.parallel},
                            {"slots_busy", s.active_slots}, {"queue", s.queue_length}}),
                  "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& r) {
    SchedulerStats s = sched->Stats();
    std::string out;
    auto metric = [&](const char* name, const char* type, const char* help, double v) {
      char buf[512];
      std::snprintf(buf, sizeof buf, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
      out += buf;
    };
    metric("qiusuo_http_requests_total", "counter", "HTTP requests received", double(http_requests.load()));
    metric("qiusuo_http_errors_total", "counter", "HTTP requests answered with an error", double(http_errors.load()));
    metric("qiusuo_requests_total", "counter", "generation requests started", double(s.requests));
    metric("qiusuo_prompt_tokens_total", "counter", "prompt tokens (tokens in)", double(s.prompt_tokens));
    metric("qiusuo_completion_tokens_total", "counter", "generated tokens (tokens out)", double(s.completion_tokens));
    metric("qiusuo_prompt_cache_hit_tokens_total", "counter", "prompt tokens reused from the prefix cache",
           double(s.cache_hit_tokens));
    metric("qiusuo_client_disconnects_total", "counter", "requests whose client went away before the answer was complete", double(disconnects.load()));
    metric("qiusuo_queue_timeouts_total", "counter", "requests answered 503 after --max-queue-wait",
           double(s.queue_timeouts));
    metric("qiusuo_connections_rejected_total", "counter",
           "connections answered 429 by --max-connections / --max-connections-per-client", double(http.rejected.load()));
    metric("qiusuo_request_timeouts_total", "counter", "requests answered 408 by --header-timeout / --body-timeout",
           double(http.timeouts.load()));
    metric("qiusuo_connections", "gauge", "open HTTP connections", double(http.active_connections()));
    metric("qiusuo_queue_length", "gauge", "requests waiting for a slot", double(s.queue_length));
    metric("qiusuo_slots_busy", "gauge", "slots generating", double(s.active_slots));
    metric("qiusuo_slots_total", "gauge", "slots (--parallel)", double(opt.parallel));
    metric("qiusuo_prefix_cache_bytes", "gauge", "bytes of KV held by the prefix cache", double(s.cache_bytes));
    metric("qiusuo_prefix_cache_entries", "gauge", "sequences held by the prefix cache", double(s.cache_entries));
    metric("qiusuo_disk_cache_bytes", "gauge", "bytes of the prefix cache's files (--cache-dir)", double(s.disk.bytes));
    metric("qiusuo_disk_cache_entries", "gauge", "entry files of the prefix cache (--cache-dir)", double(s.disk.entries));
    metric("qiusuo_disk_cache_hit_tokens_total", "counter", "prompt tokens read from --cache-dir",
           double(s.disk.hit_tokens));
    metric("qiusuo_disk_cache_dropped_total", "counter", "corrupt or mismatched cache files deleted",
           double(s.disk.dropped));
    metric("qiusuo_tokens_per_second", "gauge", "generated tokens per busy second", s.decode_tokens_per_second);
    metric("qiusuo_spec_drafted_tokens_total", "counter", "speculative draft tokens verified by the main model",
           double(s.drafted_tokens));
    metric("qiusuo_spec_accepted_tokens_total", "counter", "speculative draft tokens accepted (kept)",
           double(s.accepted_tokens));
    metric("qiusuo_spec_verify_steps_total", "counter", "verification forwards of a slot with drafts",
           double(s.spec_steps));
    r.set_content(out, "text/plain; version=0.0.4");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& r) {
    r.set_content(std::string(kWebIndexHtml), "text/html; charset=utf-8");
  });
  http.set_error_handler([this](const httplib::Request& q, httplib::Response& r) {
    if (!r.body.empty()) return;
    ApiError e;
    e.status = r.status;
    if (r.status == 404) {
      e.message = "no such endpoint: " + q.method + " " + q.path;
      e.code = "not_found";
    } else if (r.status == 413) {
      e.message = "request body too large";
    } else {
      e.message = "HTTP error " + std::to_string(r.status);
    }
    if (r.status >= 500) e.type = "server_error";
    r.set_content(Dump(e.ToJson()), "application/json");
  });
  http.set_exception_handler([this](const httplib::Request&, httplib::Response& r, std::exception_ptr ep) {
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    e.code = "internal_error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      e.message = std::string("internal error: ") + ex.what();
    } catch (...) {
      e.message = "internal error";
    }
    SendError(r, e);
  });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  Stop();
  impl_->engine.reset();
}

EngineOptions ServerEngineOptions(const ServerOptions& opt) {
  EngineOptions eo;
  SchedulerOptions& so = eo.scheduler;
  so.parallel = opt.parallel;
  so.ctx = opt.ctx;
  so.chunk = opt.chunk;
  so.threads = opt.threads;
  so.max_queue = opt.max_queue;
  so.max_queue_wait = std::chrono::milliseconds(static_cast<int64_t>(opt.max_queue_wait_s * 1000));
  so.cache_bytes = opt.cache_mb << 20;
  eo.cache_dir = opt.cache_dir;
  eo.cache_dir_bytes = opt.cache_dir_bytes;
  eo.spec.tokens = opt.spec_tokens;
  eo.spec.draft_model = opt.draft_model;
  return eo;
}

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& opt) {
  QS_ASSIGN_OR_RETURN(auto engine, Engine::Open(opt.model_path, ServerEngineOptions(opt)));
  return Create(opt, std::move(engine));
}

Result<std::unique_ptr<Server>> Server::Create(const ServerOptions& opt, std::unique_ptr<Engine> engine) {
  QS_RETURN_IF_ERROR(ValidateApiKey(opt.api_key));
  auto impl = std::make_unique<Impl>();
  impl->opt = opt;
  if (impl->opt.model_id.empty())
    impl->opt.model_id = std::filesystem::path(opt.model_path).lexically_normal().filename().string();
  if (impl->opt.model_id.empty()) impl->opt.model_id = "qiusuo";
  impl->engine = std::move(engine);
  Engine& e = *impl->engine;
  impl->model = &e.model();
  impl->tok = &e.tokenizer();
  impl->mct = e.chat_template_source();
  impl->tmpl = &e.chat_template();
  impl->sched = &e.scheduler();
  impl->opt.parallel = e.scheduler_options().parallel;  // /health and /metrics report the engine's
  impl->protocol = chat::DetectChatProtocol(impl->mct, impl->model->Info().chat_family);
  impl->eos_ids = chat::EndOfTurnIds(*impl->tok, impl->model->config().eos_token_id, impl->protocol);
  if (opt.reasoning == "on") impl->reasoning_model = true;
  else if (opt.reasoning == "off") impl->reasoning_model = false;
  else impl->reasoning_model = impl->protocol.always_reasons;
  // One HTTP thread per admitted connection (the pool grows up to --max-connections), so every
  // slot and queued request can hold a stream open and /health is answered beside them.
  ConnectionLimits limits;
  limits.header_timeout_s = opt.header_timeout_s;
  limits.body_timeout_s = opt.body_timeout_s;
  limits.max_connections = opt.max_connections;
  limits.max_connections_per_client = opt.max_connections_per_client;
  impl->http.SetLimits(limits);
  impl->http.set_payload_max_length(16u << 20);
  impl->http.set_read_timeout(60, 0);
  impl->http.set_write_timeout(30, 0);
  if (!opt.web_search_index.empty()) {
    auto idx = Fts5Index::Open(opt.web_search_index, /*create=*/false);
    if (!idx.ok()) return idx.status().With("--web-search-index");
    impl->search = std::move(idx).value();
  }
  impl->Routes();
  QS_LOG_INFO("model %s: %s, chat template from %s, %s protocol%s", impl->opt.model_id.c_str(),
          impl->model->config().architecture.c_str(), impl->mct.origin.c_str(), impl->protocol.name.c_str(),
          impl->reasoning_model ? " (reasoning model)" : "");
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Result<int> Server::Bind() {
  int port = impl_->opt.port == 0 ? impl_->http.bind_to_any_port(impl_->opt.host)
                                  : (impl_->http.bind_to_port(impl_->opt.host, impl_->opt.port) ? impl_->opt.port : -1);
  if (port < 0)
    return IoError("cannot listen on " + impl_->opt.host + ":" + std::to_string(impl_->opt.port));
  impl_->http.WidenBacklog();
  return port;
}

void Server::Run() { impl_->http.listen_after_bind(); }
void Server::Stop() { Shutdown(0); }

void Server::Shutdown(double grace_s) {
  impl_->http.stop();  // closes the listening socket; idle keep-alive connections close within 50 ms
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
  while (impl_->http.active_connections() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (impl_->engine) impl_->engine->Shutdown();  // what is left ends now (503 / an error event)
  impl_->http.CutReading();  // and clients still sending a request are cut, so Run() returns
}

}  // namespace qs::server
