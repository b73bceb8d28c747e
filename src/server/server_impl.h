// Internals of Server shared by server.cc (setup, small endpoints) and handlers.cc (generation).
#pragma once

#include <httplib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/model.h"
#include "runtime/engine.h"
#include "runtime/json_constraint.h"
#include "runtime/scheduler.h"
#include "server/api.h"
#include "server/http_guard.h"
#include "server/search_index.h"
#include "server/server.h"
#include "chat/chat_template.h"
#include "chat/protocol.h"
#include "tokenizer/tokenizer.h"

namespace qs::server {

struct Server::Impl {
  ServerOptions opt;
  std::unique_ptr<Engine> engine;  // owns what the pointers below point to
  Model* model = nullptr;
  Tokenizer* tok = nullptr;
  ModelChatTemplate mct;
  const ChatTemplate* tmpl = nullptr;
  chat::ChatProtocol protocol;  // chosen once from the template and architecture
  Scheduler* sched = nullptr;
  std::vector<int32_t> eos_ids;
  bool reasoning_model = false;
  GuardedHttpServer http;  // httplib with connection limits and request deadlines
  std::unique_ptr<SearchBackend> search;  // the web_search tool's backend (--web-search-index); null: off

  std::mutex vocab_mu;
  std::shared_ptr<const VocabBytes> vocab_bytes;  // built on the first JSON-mode request
  std::shared_ptr<const VocabBytes> Vocab();

  std::atomic<uint64_t> http_requests{0}, http_errors{0}, chat_requests{0}, completion_requests{0};
  std::atomic<uint64_t> disconnects{0};
  std::atomic<uint64_t> id_counter{0};

  void Routes();
  // server/api_routes.cc: /beta/chat/completions, /v1/models/{id}; per-request headers.
  void ApiRoutes();
  void ApiHeaders(const httplib::Request& req, httplib::Response& res, bool cors);
  bool Authorized(const httplib::Request& req, httplib::Response& res);
  // The prefix-cache namespace of a request: its API key and `user` (0 with --shared-prefix-cache).
  uint64_t CacheNamespace(const httplib::Request& req, const std::string& user) const;
  // nullopt if `model` is empty, the served id, or one of DeepSeek's names; else the 400.
  std::optional<ApiError> CheckModel(const std::string& model) const;
  // 400 if max_tokens (given) exceeds what the context leaves after the prompt.
  std::optional<ApiError> CheckMaxTokens(int64_t max_tokens, int64_t n_prompt, int64_t ctx) const;
  void HandleChat(const httplib::Request& req, httplib::Response& res);
  void HandleCompletion(const httplib::Request& req, httplib::Response& res);
  // A chat request that opted into web search (server/web_search.h; web_search_handler.cc).
  void HandleChatWithSearch(const httplib::Request& req, httplib::Response& res, ChatRequest cr);
  void SendError(httplib::Response& res, const ApiError& e);
  void ClientGone(httplib::Response& res);
  std::string NewId(const char* prefix);
};

}  // namespace qs::server
