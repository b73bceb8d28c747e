// Routes and headers of DeepSeek's API beyond the core endpoints: the /beta base URL (chat prefix
// completion, strict tools: https://api-docs.deepseek.com/guides/chat_prefix_completion),
// GET /v1/models/{id}, x-request-id, and what a browser's CORS preflight asks for.
#include <cctype>
#include <string_view>

#include "server/server_impl.h"

namespace qs::server {

using nlohmann::json;

namespace {

// A header value safe to echo: 1..128 characters of [A-Za-z0-9._:-].
bool SafeId(std::string_view v) {
  if (v.empty() || v.size() > 128) return false;
  for (char c : v)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':')) return false;
  return true;
}

// The header names of a preflight's Access-Control-Request-Headers that are plain tokens (the SDKs
// send authorization, content-type, x-stainless-*, openai-*, x-request-id ...), comma-separated.
std::string RequestedHeaders(const std::string& asked) {
  std::string out, name;
  auto flush = [&] {
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    if (ok) out += (out.empty() ? "" : ", ") + name;
    name.clear();
  };
  for (char c : asked) {
    if (c == ',') flush();
    else if (c != ' ' && c != '\t') name += c;
  }
  flush();
  return out;
}

}  // namespace

void Server::Impl::ApiHeaders(const httplib::Request& req, httplib::Response& res, bool cors) {
  // x-request-id: the client's (when it is a plain id) or a new one, on every answer, as OpenAI's
  // and DeepSeek's APIs send one for support and logs.
  const std::string given = req.get_header_value("X-Request-Id");
  res.set_header("x-request-id", SafeId(given) ? given : NewId("req_"));
  if (!cors) return;
  res.set_header("Access-Control-Expose-Headers", "x-request-id, retry-after");
  if (req.method == "OPTIONS") {
    // Browser SDKs send authorization, content-type and their x-stainless-* telemetry headers; a
    // preflight that does not list each of them fails the request. The origin is one the operator
    // allowed (--cors-origin), so the plain header names it asks for are allowed.
    std::string asked = RequestedHeaders(req.get_header_value("Access-Control-Request-Headers"));
    res.set_header("Access-Control-Allow-Headers", asked.empty() ? "Authorization, Content-Type, X-Request-Id" : asked);
    res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    res.set_header("Access-Control-Max-Age", "600");
  } else {
    res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id");
  }
}

void Server::Impl::ApiRoutes() {
  auto chat = [this](const httplib::Request& q, httplib::Response& r) {
    if (Authorized(q, r)) HandleChat(q, r);
  };
  // DeepSeek's beta base URL: prefix completion and strict tools are sent there by the SDKs
  // (@ai-sdk/deepseek sends `prefix: true` and strict tools only when the base URL ends in /beta).
  http.Post("/beta/chat/completions", chat);
  http.Post("/beta/v1/chat/completions", chat);
  auto model = [this](const httplib::Request& q, httplib::Response& r) {
    if (!Authorized(q, r)) return;
    const std::string id = q.matches.size() > 1 ? std::string(q.matches[1]) : "";
    if (id != opt.model_id && id != "deepseek-chat" && id != "deepseek-reasoner") {
      ApiError e;
      e.status = 404;
      e.code = "model_not_found";
      e.param = "model";
      e.message = "The model '" + id + "' does not exist (this server serves '" + opt.model_id + "')";
      return SendError(r, e);
    }
    r.set_content(Dump(json{{"id", id}, {"object", "model"}, {"owned_by", "qiusuo"}, {"created", 0}}),
                  "application/json");
  };
  http.Get(R"(/v1/models/([^/]+))", model);
  http.Get(R"(/models/([^/]+))", model);
  http.Get(R"(/beta/models/([^/]+))", model);
}

}  // namespace qs::server
