// Chat completions with the server-side web_search tool (server/web_search.h): each round is
// generated in full by the scheduler, searches run between rounds, and the final answer is sent
// with its citations, as one JSON object or (stream: true) as SSE chunks after the search rounds,
// with keep-alive comments while they run.
#include <chrono>
#include <ctime>

#include "chat/chat_prompt.h"
#include "chat/output.h"
#include "server/api_extras.h"
#include "server/connection.h"
#include "server/server_impl.h"
#include "server/web_search.h"

namespace qs::server {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

namespace {

// The HTTP error for a round that ended abnormally (the scheduler's finish reasons).
std::optional<ApiError> RoundError(const std::string& finish, const Status& error) {
  ApiError e;
  e.type = "server_error";
  if (!error.ok() || finish == "error") {
    e.status = 500;
    e.code = "internal_error";
    e.message = "internal error while generating: " + (error.ok() ? std::string("unknown") : error.message());
  } else if (finish == "overloaded" || finish == "cancelled") {
    e.status = 503;
    e.code = "server_overloaded";
    e.message = finish == "overloaded" ? "Server overloaded: no generation slot became free within --max-queue-wait"
                                       : "the server is shutting down";
  } else {
    return std::nullopt;
  }
  return e;
}

std::string Sse(const json& j) { return "data: " + Dump(j) + "\n\n"; }

}  // namespace

void Server::Impl::HandleChatWithSearch(const httplib::Request& req, httplib::Response& res, ChatRequest cr) {
  const bool force_search = cr.web_search_forced;
  if (!search) {
    ApiError e;
    e.param = "web_search";
    e.message = "web search is not enabled on this server (start it with --web-search-index PATH)";
    return SendError(res, e);
  }
  if (cr.prefix) {
    ApiError e;
    e.status = 422;
    e.param = "messages";
    e.message = "chat prefix completion ('prefix': true) cannot be combined with web_search";
    return SendError(res, e);
  }
  const uint64_t ns = CacheNamespace(req, cr.user);
  const int64_t ctx = sched->options().ctx;
  const std::string id = NewId("chatcmpl-"), model_name = cr.model.empty() ? opt.model_id : cr.model;
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  WebSearchOptions wo;
  wo.max_searches = opt.web_search_max;
  wo.results = opt.web_search_results;

  // Runs the whole loop; `idle` is called while a round waits or generates (false: client gone).
  // Returns the HTTP error, if any (status 499: the client left).
  auto run = [this, cr, ns, ctx, force_search, wo](const std::function<bool()>& idle,
                                                     SearchLoopResult* result) -> std::optional<ApiError> {
    std::optional<ApiError> err;
    bool first = true;
    auto round = [&](const ojson& msgs, const ojson& tools, bool force, SearchRound* out) -> bool {
      const bool use_tools = !tools.is_null() && cr.tool_choice != "none";
      std::string forced;
      if (force) forced = protocol.ForcedToolOpening(kWebSearchTool);
      else if (first && use_tools && cr.forced_tool) forced = protocol.ForcedToolOpening(cr.tool_choice);
      else if (first && use_tools && cr.tool_choice == "required") forced = protocol.ForcedToolOpening("");
      first = false;
      chat::ChatPromptOptions po;
      po.template_vars = protocol.TemplateVars(cr.thinking, cr.reasoning_effort, cr.template_kwargs);
      po.suffix = forced;
      po.close_think = cr.json_mode;
      auto p = chat::BuildChatPrompt(*tmpl, mct, protocol, *tok, msgs, use_tools ? tools : ojson(nullptr), po);
      if (!p.ok()) {
        err = ApiError{422, p.status().message(), "invalid_request_error", "invalid_request_error", "messages"};
        return false;
      }
      const int64_t n_prompt = static_cast<int64_t>(p->ids.size());
      if (n_prompt >= ctx || (cr.gen.max_tokens > 0 && cr.gen.max_tokens > ctx - n_prompt)) {
        err = ApiError{422, "the conversation with the search results has " + std::to_string(n_prompt) +
                                " tokens, too many for this server's " + std::to_string(ctx) + "-token context",
                       "invalid_request_error", "context_length_exceeded", "messages"};
        return false;
      }
      GenOptions gen = cr.gen;
      ApplySamplingDefaults(&gen, reasoning_model || (p->in_think && opt.reasoning != "off"));
      GenRequest g;
      g.prompt = std::move(p->ids);
      g.cache_namespace = ns;
      g.sampling = gen.sampling;
      g.max_tokens = gen.max_tokens > 0 ? gen.max_tokens : ctx - n_prompt;
      g.stop_ids = eos_ids;
      if (cr.json_mode) {  // json_object or json_schema (server/api_extras.h); tool calls are not constrained here
        ChatRequest answer_only = cr;
        answer_only.tools = nullptr;
        if (auto e = MakeChatConstraint(answer_only, protocol, *tok, [this] { return Vocab(); }, eos_ids, false,
                                        &g.constraint)) {
          err = *e;
          return false;
        }
      }
      Scheduler::SubmitError se;
      auto h = sched->Submit(std::move(g), &se);
      if (!h) {
        err = ApiError{se == Scheduler::SubmitError::kQueueFull ? 429 : 503, "too many requests waiting: try again later",
                       se == Scheduler::SubmitError::kQueueFull ? "rate_limit_error" : "server_error",
                       se == Scheduler::SubmitError::kQueueFull ? "rate_limit_exceeded" : "server_overloaded", ""};
        return false;
      }
      chat::OutputOptions oo;
      oo.stop = cr.gen.stop;
      oo.split_reasoning = !cr.raw_reasoning;
      oo.prompt_in_think = p->in_think;
      oo.parse_tools = use_tools;
      oo.protocol = protocol;
      chat::OutputPipeline pipe(*tok, oo);
      auto add = [&](const chat::OutputDelta& d) {
        out->content += d.content;
        out->reasoning += d.reasoning;
      };
      add(pipe.PushText(forced));
      out->prompt_tokens = n_prompt;
      out->in_think = p->in_think;
      // idle() every 200 ms whether tokens flow or not: a client that left is noticed mid-round.
      auto next_idle = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
      for (;;) {
        if (std::chrono::steady_clock::now() >= next_idle) {
          next_idle = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
          if (!idle()) {
            h->Cancel();
            err = ApiError{499, "client gone", "", "", ""};
            return false;
          }
        }
        GenEvent ev;
        if (!h->Next(&ev, std::chrono::milliseconds(200))) continue;
        if (ev.kind == GenEvent::kStarted) {
          out->cache_hit_tokens = ev.cache_hit_tokens;
        } else if (ev.kind == GenEvent::kToken) {
          out->completion_tokens++;
          add(pipe.Push(ev.token));
          if (pipe.stopped()) {
            h->Cancel();
            out->finish_reason = "stop";
            break;
          }
        } else {
          if (auto e = RoundError(ev.finish_reason, ev.error)) {
            err = e;
            return false;
          }
          if (ev.stop_token) out->completion_tokens++;
          out->finish_reason = ev.finish_reason;
          break;
        }
      }
      add(pipe.Finish(&out->calls));
      out->reasoning_tokens = pipe.reasoning_tokens();
      if (!out->calls.empty() && out->finish_reason != "length") out->finish_reason = "tool_calls";
      return true;
    };
    if (!RunWebSearchLoop(cr.messages, cr.tools, force_search, *search, wo, round, result)) return err;
    return std::nullopt;
  };

  auto message = [split = !cr.raw_reasoning](const SearchLoopResult& r) {
    json msg = {{"role", "assistant"}, {"content", r.answer.content}};
    if (split && (r.answer.in_think || !r.answer.reasoning.empty())) msg["reasoning_content"] = r.answer.reasoning;
    return msg;
  };
  auto usage = [](const SearchRound& a) {
    return json{{"prompt_tokens", a.prompt_tokens},
                {"completion_tokens", a.completion_tokens},
                {"total_tokens", a.prompt_tokens + a.completion_tokens},
                {"prompt_cache_hit_tokens", a.cache_hit_tokens},
                {"prompt_cache_miss_tokens", a.prompt_tokens - a.cache_hit_tokens},
                {"prompt_tokens_details", {{"cached_tokens", a.cache_hit_tokens}}},
                {"completion_tokens_details", {{"reasoning_tokens", a.reasoning_tokens}}}};
  };
  auto calls_json = [](const std::vector<chat::ToolCall>& calls, bool with_index) {
    json a = json::array();
    for (size_t i = 0; i < calls.size(); ++i) {
      json c = {{"id", calls[i].id}, {"type", "function"},
                {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
      if (with_index) c["index"] = i;
      a.push_back(c);
    }
    return a;
  };

  if (!cr.gen.stream) {
    const int fd = FindRequestSocket(req);
    SearchLoopResult r;
    if (auto e = run([fd] { return !PeerClosed(fd); }, &r)) {
      if (e->status == 499) return ClientGone(res);
      return SendError(res, *e);
    }
    json msg = message(r);
    if (!r.answer.calls.empty()) {
      msg["tool_calls"] = calls_json(r.answer.calls, false);
      if (r.answer.content.empty()) msg["content"] = nullptr;
    }
    msg["citations"] = CitationsJson(r.citations);
    json choice = {{"index", 0}, {"message", msg}, {"logprobs", nullptr}, {"finish_reason", r.answer.finish_reason}};
    json out = {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model_name},
                {"choices", json::array({choice})}, {"usage", usage(r.answer)}, {"system_fingerprint", "fp_qiusuo"}};
    res.set_content(Dump(out), "application/json");
    return;
  }
  const bool include_usage = cr.gen.include_usage;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [=, this](size_t, httplib::DataSink& sink) {
    json base = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model_name},
                 {"system_fingerprint", "fp_qiusuo"}};
    auto write = [&](const std::string& s) { return sink.is_writable() && sink.write(s.data(), s.size()); };
    auto chunk = [&](json delta, json finish) {
      json c = base;
      c["choices"] = json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr},
                                   {"finish_reason", std::move(finish)}}});
      if (include_usage) c["usage"] = nullptr;
      return Sse(c);
    };
    if (!write(chunk({{"role", "assistant"}, {"content", ""}}, nullptr))) {
      disconnects++;
      return false;
    }
    auto last = std::chrono::steady_clock::now();
    SearchLoopResult r;
    auto e = run(
        [&] {
          if (std::chrono::steady_clock::now() - last < std::chrono::seconds(1)) return true;
          last = std::chrono::steady_clock::now();
          return write(": keep-alive\n\n");
        },
        &r);
    if (e && e->status == 499) {
      disconnects++;
      return false;
    }
    if (e) {
      write("data: " + Dump(e->ToJson()) + "\n\ndata: [DONE]\n\n");
      sink.done();
      return true;
    }
    json msg = message(r);
    json delta = json::object();
    if (msg.contains("reasoning_content") && !r.answer.reasoning.empty()) delta["reasoning_content"] = r.answer.reasoning;
    if (!r.answer.content.empty()) delta["content"] = r.answer.content;
    if (!delta.empty()) write(chunk(delta, nullptr));
    if (!r.answer.calls.empty()) write(chunk({{"tool_calls", calls_json(r.answer.calls, true)}}, nullptr));
    write(chunk({{"citations", CitationsJson(r.citations)}}, nullptr));
    write(chunk(json::object(), r.answer.finish_reason));
    if (include_usage) {
      json u = base;
      u["choices"] = json::array();
      u["usage"] = usage(r.answer);
      write(Sse(u));
    }
    write("data: [DONE]\n\n");
    sink.done();
    return true;
  });
}

}  // namespace qs::server
