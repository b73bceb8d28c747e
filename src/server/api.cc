#include "server/api.h"

#include <algorithm>
#include <cmath>

#include "server/web_search.h"

namespace qs::server {

using nlohmann::json;
using ojson = nlohmann::ordered_json;

json ApiError::ToJson() const {
  json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}};
  if (!param.empty()) e["param"] = param;
  return json{{"error", e}};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

namespace {

ApiError Bad(const std::string& msg, const std::string& param = "") {
  ApiError e;
  e.status = 400;
  e.message = msg;
  e.param = param;
  return e;
}
ApiError Invalid(const std::string& msg, const std::string& param = "") {
  ApiError e;
  e.status = 422;
  e.message = msg;
  e.param = param;
  e.code = "invalid_parameter";
  return e;
}

// Reads an optional number field: 400 if not a number, 422 outside [lo, hi].
std::optional<ApiError> Num(const ojson& j, const char* key, double lo, double hi, float* out, bool* set = nullptr) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) return Bad(std::string("'") + key + "' must be a number", key);
  double v = it->get<double>();
  if (!(v >= lo && v <= hi))
    return Invalid(std::string("'") + key + "' must be between " + json(lo).dump() + " and " + json(hi).dump(), key);
  *out = static_cast<float>(v);
  if (set) *set = true;
  return std::nullopt;
}
std::optional<ApiError> Int(const ojson& j, const char* key, int64_t lo, int64_t hi, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) return Bad(std::string("'") + key + "' must be an integer", key);
  int64_t v = it->get<int64_t>();
  if (v < lo || v > hi)
    return Invalid(std::string("'") + key + "' must be between " + std::to_string(lo) + " and " + std::to_string(hi), key);
  *out = v;
  return std::nullopt;
}
std::optional<ApiError> Bool(const ojson& j, const char* key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) return Bad(std::string("'") + key + "' must be a boolean", key);
  *out = it->get<bool>();
  return std::nullopt;
}

#define QS_API_TRY(expr)            \
  do {                              \
    if (auto qs_e = (expr)) return qs_e; \
  } while (0)

std::optional<ApiError> ParseGen(const ojson& j, bool chat, GenOptions* g) {
  QS_API_TRY(Num(j, "temperature", 0.0, 2.0, &g->sampling.temperature, &g->temperature_set));
  QS_API_TRY(Num(j, "top_p", 0.0, 1.0, &g->sampling.top_p, &g->top_p_set));
  QS_API_TRY(Num(j, "min_p", 0.0, 1.0, &g->sampling.min_p));
  QS_API_TRY(Num(j, "frequency_penalty", -2.0, 2.0, &g->sampling.frequency_penalty));
  QS_API_TRY(Num(j, "presence_penalty", -2.0, 2.0, &g->sampling.presence_penalty));
  int64_t top_k = 0;
  QS_API_TRY(Int(j, "top_k", 0, 1 << 30, &top_k));
  g->sampling.top_k = static_cast<int>(top_k);
  QS_API_TRY(Int(j, "max_tokens", 1, 1 << 30, &g->max_tokens));
  if (j.contains("max_completion_tokens") && g->max_tokens < 0)
    QS_API_TRY(Int(j, "max_completion_tokens", 1, 1 << 30, &g->max_tokens));
  if (auto it = j.find("seed"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Bad("'seed' must be an integer", "seed");
    g->sampling.seed = it->is_number_unsigned() ? it->get<uint64_t>() : static_cast<uint64_t>(it->get<int64_t>());
    g->sampling.has_seed = true;
  }
  if (auto it = j.find("stop"); it != j.end() && !it->is_null()) {
    if (it->is_string()) {
      g->stop.push_back(it->get<std::string>());
    } else if (it->is_array()) {
      if (it->size() > 16) return Invalid("'stop' takes at most 16 strings", "stop");
      for (auto& s : *it) {
        if (!s.is_string()) return Bad("'stop' must be a string or an array of strings", "stop");
        g->stop.push_back(s.get<std::string>());
      }
    } else {
      return Bad("'stop' must be a string or an array of strings", "stop");
    }
  }
  // One choice per request (DeepSeek's API has no `n`; OpenAI's n > 1 is refused rather than
  // silently answered with one choice).
  if (auto it = j.find("n"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) return Bad("'n' must be an integer", "n");
    if (it->get<int64_t>() != 1) return Invalid("'n' must be 1: one choice per request", "n");
  }
  QS_API_TRY(ParseLogitBias(j, g));
  QS_API_TRY(Bool(j, "stream", &g->stream));
  if (auto it = j.find("stream_options"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return Bad("'stream_options' must be an object", "stream_options");
    QS_API_TRY(Bool(*it, "include_usage", &g->include_usage));
  }
  if (chat) {
    QS_API_TRY(Bool(j, "logprobs", &g->logprobs));
    int64_t top = 0;
    QS_API_TRY(Int(j, "top_logprobs", 0, 20, &top));
    if (top > 0 && !g->logprobs) return Invalid("'top_logprobs' needs 'logprobs': true", "top_logprobs");
    g->top_logprobs = static_cast<int>(top);
  } else if (auto it = j.find("logprobs"); it != j.end() && !it->is_null()) {
    // Completions API: logprobs is the number of alternatives (0..20).
    int64_t top = 0;
    QS_API_TRY(Int(j, "logprobs", 0, 20, &top));
    g->logprobs = true;
    g->top_logprobs = static_cast<int>(top);
  }
  return std::nullopt;
}

std::optional<ApiError> ParseBody(const std::string& body, int max_depth, ojson* j) {
  if (JsonNestingDepth(body, max_depth) > max_depth)
    return Bad("request JSON is nested more than " + std::to_string(max_depth) +
               " levels deep (the server's --max-json-depth)");
  *j = ojson::parse(body, nullptr, false);
  if (j->is_discarded()) return Bad("request body is not valid JSON");
  if (!j->is_object()) return Bad("request body must be a JSON object");
  if (auto it = j->find("model"); it != j->end() && !it->is_string() && !it->is_null())
    return Bad("'model' must be a string", "model");
  if (auto it = j->find("user"); it != j->end() && !it->is_string() && !it->is_null())
    return Bad("'user' must be a string", "user");
  return std::nullopt;
}

std::string UserField(const ojson& j) {
  auto it = j.find("user");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

void ApplySamplingDefaults(GenOptions* g, bool reasoning_model) {
  if (!g->temperature_set) g->sampling.temperature = reasoning_model ? 0.6f : 1.0f;
  if (!g->top_p_set) g->sampling.top_p = reasoning_model ? 0.95f : 1.0f;
}

int JsonNestingDepth(std::string_view body, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::optional<ApiError> ParseChatRequest(const std::string& body, ChatRequest* r, int max_depth) {
  ojson j;
  QS_API_TRY(ParseBody(body, max_depth, &j));
  QS_API_TRY(ExtractWebSearch(&j, &r->web_search, &r->web_search_forced));  // before `tools` is checked
  r->user = UserField(j);
  if (j.contains("model") && j["model"].is_string()) r->model = j["model"].get<std::string>();
  QS_API_TRY(ParseGen(j, true, &r->gen));
  auto mit = j.find("messages");
  if (mit == j.end()) return Bad("'messages' is required", "messages");
  if (!mit->is_array()) return Bad("'messages' must be an array", "messages");
  if (mit->empty()) return Invalid("'messages' must not be empty", "messages");
  r->messages = ojson::array();
  for (size_t i = 0; i < mit->size(); ++i) {
    const ojson& m = (*mit)[i];
    std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) return Bad(where + " must be an object", "messages");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) return Bad(where + ".role must be a string", "messages");
    std::string rs = role->get<std::string>();
    if (rs != "system" && rs != "user" && rs != "assistant" && rs != "tool" && rs != "developer")
      return Invalid(where + ".role '" + rs + "' is not one of system, user, assistant, tool", "messages");
    ojson msg = m;
    if (rs == "developer") msg["role"] = "system";
    auto c = m.find("content");
    if (c == m.end() || c->is_null()) {
      if (rs != "assistant") return Bad(where + ".content is required", "messages");
      msg["content"] = nullptr;
    } else if (c->is_array()) {  // [{type: text, text}] parts
      std::string text;
      for (auto& part : *c) {
        if (!part.is_object() || !part.contains("text") || !part["text"].is_string())
          return Bad(where + ".content parts must be {type: text, text: string}", "messages");
        text += part["text"].get<std::string>();
      }
      msg["content"] = text;
    } else if (!c->is_string()) {
      return Bad(where + ".content must be a string or an array of parts", "messages");
    }
    if (auto tc = m.find("tool_calls"); tc != m.end() && !tc->is_null() && !tc->is_array())
      return Bad(where + ".tool_calls must be an array", "messages");
    if (rs == "tool" && (!m.contains("tool_call_id") || !m["tool_call_id"].is_string()))
      return Bad(where + ".tool_call_id is required for tool messages", "messages");
    if (auto p = m.find("prefix"); p != m.end()) {
      if (!p->is_boolean()) return Bad(where + ".prefix must be a boolean", "messages");
      if (p->get<bool>()) {
        if (i + 1 != mit->size() || rs != "assistant")
          return Invalid("'prefix': true is only allowed on the last message, an assistant one", "messages");
        r->prefix = true;
        r->prefix_text = msg["content"].is_string() ? msg["content"].get<std::string>() : "";
        // DeepSeek: the reasoning_content of a prefix message is the chain of thought to continue.
        if (auto rc = m.find("reasoning_content"); rc != m.end() && rc->is_string())
          r->prefix_reasoning = rc->get<std::string>();
        continue;  // not part of the rendered history
      }
    }
    msg.erase("prefix");
    r->messages.push_back(std::move(msg));
  }
  if (r->messages.empty()) return Invalid("'messages' needs a message before the prefix", "messages");
  r->tools = nullptr;
  if (auto t = j.find("tools"); t != j.end() && !t->is_null()) {
    if (!t->is_array()) return Bad("'tools' must be an array", "tools");
    for (auto& tool : *t) {
      if (!tool.is_object() || !tool.contains("function") || !tool["function"].is_object() ||
          !tool["function"].contains("name") || !tool["function"]["name"].is_string())
        return Bad("each tool must be {type: function, function: {name, ...}}", "tools");
    }
    if (!t->empty()) r->tools = *t;
    if (t->size() > 128) return Invalid("at most 128 tools", "tools");
  }
  if (auto tc = j.find("tool_choice"); tc != j.end() && !tc->is_null()) {
    if (tc->is_string()) {
      r->tool_choice = tc->get<std::string>();
      if (r->tool_choice != "none" && r->tool_choice != "auto" && r->tool_choice != "required")
        return Invalid("'tool_choice' must be none, auto, required or a named function", "tool_choice");
    } else if (tc->is_object() && tc->contains("function") && (*tc)["function"].is_object() &&
               (*tc)["function"].contains("name") && (*tc)["function"]["name"].is_string()) {
      r->tool_choice = (*tc)["function"]["name"].get<std::string>();
      r->forced_tool = true;
    } else {
      return Bad("'tool_choice' must be a string or {type: function, function: {name}}", "tool_choice");
    }
    if ((r->tool_choice == "required" || r->forced_tool) && r->tools.is_null())
      return Invalid("'tool_choice' needs 'tools'", "tool_choice");
    if (r->forced_tool) {
      bool found = false;
      for (auto& tool : r->tools) found |= tool["function"]["name"] == r->tool_choice;
      if (!found) return Invalid("'tool_choice' names a function not in 'tools'", "tool_choice");
    }
  }
  if (auto rf = j.find("response_format"); rf != j.end() && !rf->is_null()) {
    if (!rf->is_object() || !rf->contains("type") || !(*rf)["type"].is_string())
      return Bad("'response_format' must be {type: text | json_object}", "response_format");
    std::string t = (*rf)["type"].get<std::string>();
    if (t == "json_object" || t == "json_schema") r->json_mode = true;  // json_schema: ParseChatExtras
    else if (t != "text")
      return Invalid("'response_format.type' must be text, json_object or json_schema", "response_format");
  }
  if (auto rf = j.find("reasoning_format"); rf != j.end() && !rf->is_null()) {
    if (!rf->is_string()) return Bad("'reasoning_format' must be a string", "reasoning_format");
    std::string v = rf->get<std::string>();
    if (v == "raw" || v == "none") r->raw_reasoning = true;
    else if (v != "deepseek" && v != "auto") return Invalid("'reasoning_format' must be deepseek or raw", "reasoning_format");
  }
  // Thinking: DeepSeek's "thinking" object, OpenAI's "reasoning_effort", and vLLM/SGLang's
  // "chat_template_kwargs" (template variables as given, e.g. {"thinking": true}).
  if (auto t = j.find("thinking"); t != j.end() && !t->is_null()) {
    if (!t->is_object() || !t->contains("type") || !(*t)["type"].is_string())
      return Bad("'thinking' must be {type: enabled | disabled}", "thinking");
    std::string v = (*t)["type"].get<std::string>();
    if (v != "enabled" && v != "disabled") return Invalid("'thinking.type' must be enabled or disabled", "thinking");
    r->thinking = v == "enabled";
  }
  if (auto e = j.find("reasoning_effort"); e != j.end() && !e->is_null()) {
    if (!e->is_string()) return Bad("'reasoning_effort' must be a string", "reasoning_effort");
    r->reasoning_effort = e->get<std::string>();
    static const char* kEfforts[] = {"none", "minimal", "low", "medium", "high", "xhigh", "max"};
    if (std::find(std::begin(kEfforts), std::end(kEfforts), r->reasoning_effort) == std::end(kEfforts))
      return Invalid("'reasoning_effort' must be none, minimal, low, medium, high, xhigh or max", "reasoning_effort");
    if (!r->thinking) r->thinking = r->reasoning_effort != "none";
  }
  r->template_kwargs = nullptr;
  if (auto k = j.find("chat_template_kwargs"); k != j.end() && !k->is_null()) {
    if (!k->is_object()) return Bad("'chat_template_kwargs' must be an object", "chat_template_kwargs");
    for (const char* reserved : {"messages", "tools", "documents", "add_generation_prompt"})
      if (k->contains(reserved))
        return Invalid(std::string("'chat_template_kwargs' may not set '") + reserved + "'", "chat_template_kwargs");
    r->template_kwargs = *k;
  }
  return ParseChatExtras(j, r);
}

std::optional<ApiError> ParseCompletionRequest(const std::string& body, CompletionRequest* r, int max_depth) {
  ojson j;
  QS_API_TRY(ParseBody(body, max_depth, &j));
  r->user = UserField(j);
  if (j.contains("model") && j["model"].is_string()) r->model = j["model"].get<std::string>();
  QS_API_TRY(ParseGen(j, false, &r->gen));
  auto p = j.find("prompt");
  if (p == j.end()) return Bad("'prompt' is required", "prompt");
  if (!p->is_string()) return Bad("'prompt' must be a string", "prompt");
  r->prompt = p->get<std::string>();
  if (auto s = j.find("suffix"); s != j.end() && !s->is_null()) {
    if (!s->is_string()) return Bad("'suffix' must be a string", "suffix");
    r->suffix = s->get<std::string>();
  }
  QS_API_TRY(Bool(j, "echo", &r->echo));
  return std::nullopt;
}

}  // namespace qs::server
