// Generation endpoints: chat completions and (FIM) completions, streaming and not.
#include <chrono>
#include <ctime>
#include <optional>

#include "chat/chat_prompt.h"
#include "server/api_extras.h"
#include "server/connection.h"
#include "chat/output.h"
#include "server/server_impl.h"

namespace qs::server {

using nlohmann::json;
using ojson = nlohmann::ordered_json;
using chat::BuildChatPrompt;
using chat::OutputDelta;
using chat::OutputOptions;
using chat::OutputPipeline;
using chat::ToolCall;

namespace {

constexpr const char* kFingerprint = "fp_qiusuo";

// What a consumer of a request's events saw.
struct GenOutcome {
  std::string finish_reason = "stop";
  int64_t completion_tokens = 0, cache_hit = 0;
  bool client_gone = false;
  Status error;
};

// How often a consumer's on_idle runs: streams send a keep-alive comment each second while the
// request waits for its first token; non-streaming requests check their socket five times a second
// for the whole request (nothing else would tell them that the client left).
struct IdlePolicy {
  std::chrono::milliseconds period{1000};
  bool after_first_token = false;
};

// Pulls events until the request is done. on_token(ev) -> false: stop (stop string or client
// gone, as told by *gone). on_idle() -> false: the client is gone.
template <class OnToken, class OnIdle>
GenOutcome Consume(RequestHandle& h, OnToken on_token, OnIdle on_idle, bool* gone, IdlePolicy policy = {}) {
  using Clock = std::chrono::steady_clock;
  GenOutcome o;
  bool started_tokens = false;
  auto next_idle = Clock::now() + policy.period;
  for (;;) {
    auto now = Clock::now();
    if (now >= next_idle) {
      next_idle = now + policy.period;
      if ((policy.after_first_token || !started_tokens) && !on_idle()) {
        h.Cancel();  // the slot (or queue place) is freed before the scheduler's next step
        o.client_gone = true;
        o.finish_reason = "cancelled";
        return o;
      }
    }
    GenEvent ev;
    if (!h.Next(&ev, std::chrono::duration_cast<std::chrono::milliseconds>(next_idle - now))) continue;
    if (ev.kind == GenEvent::kStarted) {
      o.cache_hit = ev.cache_hit_tokens;
    } else if (ev.kind == GenEvent::kToken) {
      started_tokens = true;
      o.completion_tokens++;
      if (!on_token(ev)) {
        h.Cancel();
        o.client_gone = *gone;
        o.finish_reason = *gone ? "cancelled" : "stop";
        return o;
      }
    } else {
      o.finish_reason = ev.finish_reason;
      if (ev.stop_token) o.completion_tokens++;
      o.error = ev.error;
      return o;
    }
  }
}

// The HTTP error for a request that did not end normally (the client is still there): the
// scheduler refused its forward pass (500), no slot freed up in time (503), the server is
// stopping (503). nullopt: it ended normally.
std::optional<ApiError> OutcomeError(const GenOutcome& o) {
  ApiError e;
  e.type = "server_error";
  if (!o.error.ok() || o.finish_reason == "error") {
    e.status = 500;
    e.code = "internal_error";
    e.message = "internal error while generating: " + (o.error.ok() ? std::string("unknown") : o.error.message());
  } else if (o.finish_reason == "overloaded") {
    e.status = 503;
    e.code = "server_overloaded";
    e.message = "Server overloaded: no generation slot became free within --max-queue-wait; try again later";
  } else if (o.finish_reason == "cancelled" && !o.client_gone) {
    e.status = 503;
    e.code = "server_overloaded";
    e.message = "the server is shutting down";
  } else {
    return std::nullopt;
  }
  return e;
}

// Mid-stream errors: the status line (200) is already sent, so the error goes in an event of the
// shape OpenAI's streams use (the official SDKs raise it as an APIError), then the stream ends.
std::string SseError(const ApiError& e) { return "data: " + Dump(e.ToJson()) + "\n\ndata: [DONE]\n\n"; }

json Usage(int64_t prompt, const GenOutcome& o, int64_t reasoning_tokens, bool chat) {
  json u = {{"prompt_tokens", prompt},
            {"completion_tokens", o.completion_tokens},
            {"total_tokens", prompt + o.completion_tokens},
            {"prompt_cache_hit_tokens", o.cache_hit},
            {"prompt_cache_miss_tokens", prompt - o.cache_hit},
            // OpenAI's name for the same figure: OpenAI-style clients read only this one.
            {"prompt_tokens_details", {{"cached_tokens", o.cache_hit}}}};
  if (chat) u["completion_tokens_details"] = {{"reasoning_tokens", reasoning_tokens}};
  return u;
}

json BytesArray(std::string_view b) {
  json a = json::array();
  for (unsigned char c : b) a.push_back(static_cast<int>(c));
  return a;
}

json LogprobEntry(const Tokenizer& tok, const GenEvent& ev) {
  std::string_view b = tok.TokenBytes(ev.token);
  json top = json::array();
  for (auto& t : ev.top) {
    std::string_view tb = tok.TokenBytes(t.id);
    top.push_back({{"token", std::string(tb)}, {"logprob", t.logprob}, {"bytes", BytesArray(tb)}});
  }
  return {{"token", std::string(b)}, {"logprob", ev.logprob.logprob}, {"bytes", BytesArray(b)}, {"top_logprobs", top}};
}

json ToolCallsJson(const std::vector<ToolCall>& calls, bool with_index) {
  json a = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json c = {{"id", calls[i].id}, {"type", "function"},
              {"function", {{"name", calls[i].name}, {"arguments", calls[i].arguments}}}};
    if (with_index) c["index"] = i;
    a.push_back(c);
  }
  return a;
}

std::string Sse(const json& j) { return "data: " + Dump(j) + "\n\n"; }

ApiError Overloaded(Scheduler::SubmitError e, int64_t prompt_len, int64_t ctx) {
  ApiError a;
  if (e == Scheduler::SubmitError::kTooLong) {
    a.status = 422;
    a.code = "context_length_exceeded";
    a.param = "messages";
    a.message = "the prompt has " + std::to_string(prompt_len) + " tokens; this server's context is " +
                std::to_string(ctx) + " tokens";
  } else if (e == Scheduler::SubmitError::kQueueFull) {
    a.status = 429;
    a.type = "rate_limit_error";
    a.code = "rate_limit_exceeded";
    a.message = "too many requests waiting: try again later";
  } else {
    a.status = 503;
    a.type = "server_error";
    a.code = "server_overloaded";
    a.message = "the server is shutting down";
  }
  return a;
}

constexpr IdlePolicy kNonStreamingIdle{std::chrono::milliseconds(200), /*after_first_token=*/true};

// Writes to a stream; false once the client has gone.
bool Write(httplib::DataSink& sink, const std::string& s) { return sink.is_writable() && sink.write(s.data(), s.size()); }

}  // namespace

std::optional<ApiError> Server::Impl::CheckModel(const std::string& model) const {
  // The served id, and DeepSeek's names so that clients written for api.deepseek.com run as they
  // are (they always name a model); the request's name is echoed in the answer.
  if (model.empty() || model == opt.model_id || model == "deepseek-chat" || model == "deepseek-reasoner")
    return std::nullopt;
  ApiError e;
  e.status = 400;
  e.code = "model_not_found";
  e.param = "model";
  e.message = "Model Not Exist: '" + model + "' (this server serves '" + opt.model_id +
              "'; deepseek-chat and deepseek-reasoner name it too)";
  return e;
}

std::optional<ApiError> Server::Impl::CheckMaxTokens(int64_t max_tokens, int64_t n_prompt, int64_t ctx) const {
  // A limit the context cannot honour is refused (as DeepSeek refuses max_tokens beyond its
  // range) rather than quietly shortened: the client would otherwise take "length" for its own.
  if (max_tokens <= ctx - n_prompt) return std::nullopt;
  ApiError e;
  e.status = 400;
  e.param = "max_tokens";
  e.message = "Invalid max_tokens value: " + std::to_string(max_tokens) + " tokens do not fit after the " +
              std::to_string(n_prompt) + "-token prompt in this server's " + std::to_string(ctx) +
              "-token context (at most " + std::to_string(ctx - n_prompt) + ")";
  return e;
}

// The client of a non-streaming request left: its slot is already freed (Consume cancelled it).
// Nobody reads the answer; 499 (nginx's "client closed request") shows up in logs and metrics.
void Server::Impl::ClientGone(httplib::Response& res) {
  disconnects++;
  res.status = 499;
}

void Server::Impl::HandleChat(const httplib::Request& req, httplib::Response& res) {
  chat_requests++;
  ChatRequest cr;
  if (auto e = ParseChatRequest(req.body, &cr, opt.max_json_depth)) return SendError(res, *e);
  if (auto e = CheckModel(cr.model)) return SendError(res, *e);
  if (auto e = CheckLogitBias(cr.gen, sched->vocab_size())) return SendError(res, *e);
  if (cr.web_search) return HandleChatWithSearch(req, res, std::move(cr));
  // The prompt: the model's template with the generation prompt and the request's template
  // variables (thinking switch), plus a prefix to continue and, for a forced tool call, the
  // opening of the call in the model's syntax (as if generated).
  const bool use_tools = !cr.tools.is_null() && cr.tool_choice != "none";
  std::string forced;
  if (use_tools && cr.forced_tool) forced = protocol.ForcedToolOpening(cr.tool_choice);
  else if (use_tools && cr.tool_choice == "required") forced = protocol.ForcedToolOpening("");
  chat::ChatPromptOptions po;
  po.template_vars = protocol.TemplateVars(cr.thinking, cr.reasoning_effort, cr.template_kwargs);
  po.suffix = cr.prefix_text + forced;
  po.reasoning_prefix = cr.prefix_reasoning;
  po.close_think = cr.json_mode;
  auto ids = BuildChatPrompt(*tmpl, mct, protocol, *tok, cr.messages, use_tools ? cr.tools : ojson(nullptr), po);
  if (!ids.ok()) {
    ApiError e;
    e.status = 422;
    e.param = "messages";
    e.message = ids.status().message();
    return SendError(res, e);
  }
  const bool in_think = ids->in_think;
  const int64_t n_prompt = static_cast<int64_t>(ids->ids.size());
  const int64_t ctx = sched->options().ctx;
  if (n_prompt >= ctx) return SendError(res, Overloaded(Scheduler::SubmitError::kTooLong, n_prompt, ctx));
  if (auto e = CheckMaxTokens(cr.gen.max_tokens, n_prompt, ctx)) return SendError(res, *e);

  GenRequest g;
  g.prompt = std::move(ids->ids);
  g.cache_namespace = CacheNamespace(req, cr.user);
  // R1's sampling defaults for reasoning models and for answers that start by reasoning
  // (thinking switched on), unless --reasoning off.
  ApplySamplingDefaults(&cr.gen, reasoning_model || (in_think && opt.reasoning != "off"));
  g.sampling = cr.gen.sampling;
  g.max_tokens = cr.gen.max_tokens > 0 ? std::min(cr.gen.max_tokens, ctx - n_prompt) : ctx - n_prompt;
  g.stop_ids = eos_ids;
  g.top_logprobs = cr.gen.logprobs ? cr.gen.top_logprobs : -1;
  if (auto e = MakeChatConstraint(cr, protocol, *tok, [this] { return Vocab(); }, eos_ids, use_tools, &g.constraint))
    return SendError(res, *e);
  Scheduler::SubmitError se;
  auto handle = sched->Submit(std::move(g), &se);
  if (!handle) return SendError(res, Overloaded(se, n_prompt, ctx));

  OutputOptions oo;
  oo.stop = cr.gen.stop;
  oo.split_reasoning = !cr.raw_reasoning;
  oo.prompt_in_think = in_think;
  oo.parse_tools = use_tools;
  oo.protocol = protocol;
  auto pipe = std::make_shared<OutputPipeline>(*tok, oo);
  const std::string id = NewId("chatcmpl-"), model_name = cr.model.empty() ? opt.model_id : cr.model;
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const bool want_logprobs = cr.gen.logprobs;

  if (!cr.gen.stream) {
    const int conn_fd = FindRequestSocket(req);
    std::string content, reasoning;
    json lps = json::array();
    bool gone = false;
    OutputDelta d0 = pipe->PushText(forced);
    content += d0.content;
    GenOutcome o = Consume(
        *handle,
        [&](const GenEvent& ev) {
          OutputDelta d = pipe->Push(ev.token);
          content += d.content;
          reasoning += d.reasoning;
          if (want_logprobs) lps.push_back(LogprobEntry(*tok, ev));
          return !pipe->stopped();
        },
        [&] { return !PeerClosed(conn_fd); }, &gone, kNonStreamingIdle);
    if (o.client_gone) return ClientGone(res);
    if (auto e = OutcomeError(o)) return SendError(res, *e);
    std::vector<ToolCall> calls;
    OutputDelta d = pipe->Finish(&calls);
    content += d.content;
    reasoning += d.reasoning;
    json msg = {{"role", "assistant"}, {"content", content}};
    if (oo.split_reasoning && (in_think || !reasoning.empty())) msg["reasoning_content"] = reasoning;
    std::string finish = o.finish_reason;
    if (!calls.empty()) {
      msg["tool_calls"] = ToolCallsJson(calls, false);
      if (content.empty()) msg["content"] = nullptr;
      if (finish != "length") finish = "tool_calls";  // a call cut off by max_tokens is "length"
    }
    json choice = {{"index", 0}, {"message", msg}, {"logprobs", nullptr}, {"finish_reason", finish}};
    if (want_logprobs) choice["logprobs"] = {{"content", lps}};
    json out = {{"id", id}, {"object", "chat.completion"}, {"created", created}, {"model", model_name},
                {"choices", json::array({choice})},
                {"usage", Usage(n_prompt, o, pipe->reasoning_tokens(), true)},
                {"system_fingerprint", kFingerprint}};
    res.set_content(Dump(out), "application/json");
    return;
  }

  const bool include_usage = cr.gen.include_usage, split = oo.split_reasoning;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [=, this](size_t, httplib::DataSink& sink) {
    json base = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model_name},
                 {"system_fingerprint", kFingerprint}};
    auto chunk = [&](json delta, json finish, json logprobs) {
      json c = base;
      c["choices"] = json::array({{{"index", 0}, {"delta", std::move(delta)}, {"logprobs", std::move(logprobs)},
                                   {"finish_reason", std::move(finish)}}});
      if (include_usage) c["usage"] = nullptr;
      return Sse(c);
    };
    bool gone = false;
    json pending_lps = json::array();
    size_t calls_sent = 0;
    auto emit = [&](const OutputDelta& d, bool force) {
      if (d.empty() && !force) return true;
      if (!d.reasoning.empty() || !d.content.empty() || force) {
        json delta = json::object();
        if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
        if (!d.content.empty() || force) delta["content"] = d.content;
        json lp = nullptr;
        if (want_logprobs && !pending_lps.empty()) {
          lp = {{"content", pending_lps}};
          pending_lps = json::array();
        }
        if (!Write(sink, chunk(delta, nullptr, lp))) gone = true;
      }
      // Each call as its markup closes, in one delta with its index, id, name and arguments (as
      // OpenAI streams a call; clients join deltas by index).
      if (!gone && !d.tool_calls.empty()) {
        json calls = ToolCallsJson(d.tool_calls, true);
        for (auto& c : calls) c["index"] = calls_sent++;
        if (!Write(sink, chunk({{"tool_calls", calls}}, nullptr, nullptr))) gone = true;
      }
      return !gone;
    };
    json first = {{"role", "assistant"}, {"content", ""}};
    if (split && in_think) first["reasoning_content"] = nullptr;
    if (!Write(sink, chunk(first, nullptr, nullptr))) gone = true;
    if (!gone) emit(pipe->PushText(forced), false);
    GenOutcome o;
    if (!gone) {
      o = Consume(
          *handle,
          [&](const GenEvent& ev) {
            if (want_logprobs) pending_lps.push_back(LogprobEntry(*tok, ev));
            return emit(pipe->Push(ev.token), false) && !pipe->stopped();
          },
          [&] {
            if (!Write(sink, ": keep-alive\n\n")) gone = true;
            return !gone;
          },
          &gone);
    } else {
      handle->Cancel();
    }
    if (gone || o.client_gone) {
      disconnects++;
      return false;  // httplib closes the connection; the slot was freed by Cancel
    }
    if (auto e = OutcomeError(o)) {
      Write(sink, SseError(*e));
      sink.done();
      return true;
    }
    std::vector<ToolCall> calls;
    OutputDelta d = pipe->Finish(&calls);
    std::string finish = o.finish_reason;
    if (!d.empty() || (want_logprobs && !pending_lps.empty())) emit(d, /*force=*/!pending_lps.empty());
    if (!calls.empty() && finish != "length") finish = "tool_calls";
    Write(sink, chunk(json::object(), finish, nullptr));
    if (include_usage) {
      json u = base;
      u["choices"] = json::array();
      u["usage"] = Usage(n_prompt, o, pipe->reasoning_tokens(), true);
      Write(sink, Sse(u));
    }
    Write(sink, "data: [DONE]\n\n");
    sink.done();
    return true;
  });
}

void Server::Impl::HandleCompletion(const httplib::Request& req, httplib::Response& res) {
  completion_requests++;
  CompletionRequest cr;
  if (auto e = ParseCompletionRequest(req.body, &cr, opt.max_json_depth)) return SendError(res, *e);
  if (auto e = CheckModel(cr.model)) return SendError(res, *e);
  // FIM (DeepSeek-Coder / V3 tokens): <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>, the
  // model writes the hole. Without a suffix it is a plain continuation of the prompt.
  std::vector<int32_t> ids;
  if (tok->add_bos_token() && tok->bos_id() >= 0) ids.push_back(tok->bos_id());
  auto enc = [&](const std::string& s) -> bool {
    auto r = tok->Encode(s, /*parse_special=*/false, /*add_bos=*/false);
    if (!r.ok()) return false;
    ids.insert(ids.end(), r->begin(), r->end());
    return true;
  };
  bool ok = true;
  if (!cr.suffix.empty()) {
    int32_t b = tok->TokenId("<｜fim▁begin｜>"), hole = tok->TokenId("<｜fim▁hole｜>"), end = tok->TokenId("<｜fim▁end｜>");
    if (b < 0 || hole < 0 || end < 0) {
      ApiError e;
      e.status = 422;
      e.param = "suffix";
      e.message = "this model's vocabulary has no FIM tokens (<｜fim▁begin｜>, <｜fim▁hole｜>, <｜fim▁end｜>)";
      return SendError(res, e);
    }
    ids.push_back(b);
    ok = enc(cr.prompt);
    ids.push_back(hole);
    ok = ok && enc(cr.suffix);
    ids.push_back(end);
  } else {
    ok = enc(cr.prompt);
  }
  if (!ok || ids.empty()) {
    ApiError e;
    e.param = "prompt";
    e.message = ids.empty() ? "'prompt' is empty" : "'prompt' or 'suffix' is not valid UTF-8";
    if (ids.empty()) e.status = 422;
    return SendError(res, e);
  }
  const int64_t n_prompt = static_cast<int64_t>(ids.size()), ctx = sched->options().ctx;
  if (n_prompt >= ctx) return SendError(res, Overloaded(Scheduler::SubmitError::kTooLong, n_prompt, ctx));
  if (auto e = CheckMaxTokens(cr.gen.max_tokens, n_prompt, ctx)) return SendError(res, *e);
  if (auto e = CheckLogitBias(cr.gen, sched->vocab_size())) return SendError(res, *e);
  GenRequest g;
  g.prompt = std::move(ids);
  g.cache_namespace = CacheNamespace(req, cr.user);
  ApplySamplingDefaults(&cr.gen, /*reasoning_model=*/false);  // FIM and plain completion: no thinking
  g.sampling = cr.gen.sampling;
  g.max_tokens = cr.gen.max_tokens > 0 ? std::min(cr.gen.max_tokens, ctx - n_prompt) : std::min<int64_t>(16, ctx - n_prompt);
  g.stop_ids = eos_ids;
  g.top_logprobs = cr.gen.logprobs ? cr.gen.top_logprobs : -1;
  Scheduler::SubmitError se;
  auto handle = sched->Submit(std::move(g), &se);
  if (!handle) return SendError(res, Overloaded(se, n_prompt, ctx));
  OutputOptions oo;
  oo.stop = cr.gen.stop;
  oo.split_reasoning = false;
  auto pipe = std::make_shared<OutputPipeline>(*tok, oo);
  const std::string id = NewId("cmpl-"), model_name = cr.model.empty() ? opt.model_id : cr.model;
  const int64_t created = static_cast<int64_t>(std::time(nullptr));
  const bool want_logprobs = cr.gen.logprobs;
  // Completions-API logprobs: parallel arrays.
  auto lp_add = [this](json& lp, const GenEvent& ev, size_t offset) {
    lp["tokens"].push_back(std::string(tok->TokenBytes(ev.token)));
    lp["token_logprobs"].push_back(ev.logprob.logprob);
    json top = json::object();
    for (auto& t : ev.top) top[std::string(tok->TokenBytes(t.id))] = t.logprob;
    lp["top_logprobs"].push_back(top);
    lp["text_offset"].push_back(offset);
  };
  auto lp_new = [] {
    return json{{"tokens", json::array()}, {"token_logprobs", json::array()}, {"top_logprobs", json::array()},
                {"text_offset", json::array()}};
  };
  if (!cr.gen.stream) {
    const int conn_fd = FindRequestSocket(req);
    std::string text = cr.echo ? cr.prompt : "";
    json lp = lp_new();
    bool gone = false;
    GenOutcome o = Consume(
        *handle,
        [&](const GenEvent& ev) {
          if (want_logprobs) lp_add(lp, ev, text.size());
          text += pipe->Push(ev.token).content;
          return !pipe->stopped();
        },
        [&] { return !PeerClosed(conn_fd); }, &gone, kNonStreamingIdle);
    if (o.client_gone) return ClientGone(res);
    if (auto e = OutcomeError(o)) return SendError(res, *e);
    std::vector<ToolCall> calls;
    text += pipe->Finish(&calls).content;
    json choice = {{"text", text}, {"index", 0}, {"logprobs", want_logprobs ? lp : json(nullptr)},
                   {"finish_reason", o.finish_reason}};
    json out = {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model_name},
                {"choices", json::array({choice})}, {"usage", Usage(n_prompt, o, 0, false)},
                {"system_fingerprint", kFingerprint}};
    res.set_content(Dump(out), "application/json");
    return;
  }
  const bool include_usage = cr.gen.include_usage, echo = cr.echo;
  const std::string prompt_text = cr.prompt;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [=, this](size_t, httplib::DataSink& sink) {
    json base = {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model_name},
                 {"system_fingerprint", kFingerprint}};
    auto chunk = [&](const std::string& text, json finish, json lp) {
      json c = base;
      c["choices"] = json::array({{{"text", text}, {"index", 0}, {"logprobs", lp}, {"finish_reason", finish}}});
      if (include_usage) c["usage"] = nullptr;  // as in chat chunks: the totals come last
      return Sse(c);
    };
    bool gone = false;
    size_t offset = 0;
    if (echo && !Write(sink, chunk(prompt_text, nullptr, nullptr))) gone = true;
    if (echo) offset = prompt_text.size();
    GenOutcome o;
    if (!gone) {
      o = Consume(
          *handle,
          [&](const GenEvent& ev) {
            std::string t = pipe->Push(ev.token).content;
            json lp = nullptr;
            if (want_logprobs) {
              lp = lp_new();
              lp_add(lp, ev, offset);
            }
            offset += t.size();
            if ((!t.empty() || want_logprobs) && !Write(sink, chunk(t, nullptr, lp))) gone = true;
            return !gone && !pipe->stopped();
          },
          [&] {
            if (!Write(sink, ": keep-alive\n\n")) gone = true;
            return !gone;
          },
          &gone);
    } else {
      handle->Cancel();
    }
    if (gone || o.client_gone) {
      disconnects++;
      return false;
    }
    if (auto e = OutcomeError(o)) {
      Write(sink, SseError(*e));
      sink.done();
      return true;
    }
    std::vector<ToolCall> calls;
    std::string rest = pipe->Finish(&calls).content;
    Write(sink, chunk(rest, o.finish_reason, nullptr));
    if (include_usage) {
      json u = base;
      u["choices"] = json::array();
      u["usage"] = Usage(n_prompt, o, 0, false);
      Write(sink, Sse(u));
    }
    Write(sink, "data: [DONE]\n\n");
    sink.done();
    return true;
  });
}

}  // namespace qs::server
