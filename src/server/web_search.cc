#include "server/web_search.h"

namespace qs::server {

using ojson = nlohmann::ordered_json;

namespace {

ApiError BadField(const std::string& msg, const std::string& param) {
  ApiError e;
  e.status = 400;
  e.message = msg;
  e.param = param;
  return e;
}

bool IsWebSearchTool(const ojson& t) {
  return t.is_object() && t.contains("type") && t["type"] == kWebSearchTool;
}

// The query of a call: its "query" argument, else (a cut-off or malformed call) the last user
// message, which is what the user asked about.
std::string QueryOf(const chat::ToolCall& call, const ojson& messages) {
  auto args = ojson::parse(call.arguments, nullptr, false);
  if (args.is_object() && args.contains("query") && args["query"].is_string()) {
    std::string q = args["query"].get<std::string>();
    if (q.find_first_not_of(" \t\r\n") != std::string::npos) return q;
  }
  for (auto it = messages.rbegin(); it != messages.rend(); ++it)
    if (it->value("role", "") == "user" && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return "";
}

}  // namespace

ojson WebSearchToolJson() {
  return ojson::parse(R"({"type": "function", "function": {"name": "web_search",
    "description": "Search the web for current or factual information. Results are numbered [1], [2], ...; cite the ones you use by their number.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "what to search for"}},
                   "required": ["query"]}}})");
}

std::optional<ApiError> ExtractWebSearch(ojson* body, bool* enabled, bool* forced) {
  *enabled = *forced = false;
  if (!body->is_object()) return std::nullopt;  // the usual parsing reports it
  if (auto w = body->find("web_search"); w != body->end()) {
    if (!w->is_null() && !w->is_boolean()) return BadField("'web_search' must be a boolean", "web_search");
    *enabled = w->is_boolean() && w->get<bool>();
    body->erase("web_search");
  }
  if (auto t = body->find("tools"); t != body->end() && t->is_array()) {
    ojson kept = ojson::array();
    for (auto& tool : *t) {
      if (IsWebSearchTool(tool)) *enabled = true;
      else kept.push_back(tool);
    }
    if (kept.size() != t->size()) *t = kept.empty() ? ojson(nullptr) : kept;
  }
  if (auto tc = body->find("tool_choice"); tc != body->end() && tc->is_object()) {
    const bool named = tc->contains("function") && (*tc)["function"].is_object() &&
                       (*tc)["function"].value("name", "") == kWebSearchTool;
    if (IsWebSearchTool(*tc) || named) {
      *forced = true;
      *enabled = true;
      body->erase("tool_choice");
    }
  }
  return std::nullopt;
}

std::string FormatSearchResults(const std::string& query, const std::vector<SearchHit>& hits, int first) {
  if (hits.empty()) return "No results for \"" + query + "\".";
  std::string s;
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i) s += "\n\n";
    s += "[" + std::to_string(first + static_cast<int>(i)) + "] " + hits[i].title + "\nURL: " + hits[i].url + "\n" +
         hits[i].snippet;
  }
  return s;
}

nlohmann::json CitationsJson(const std::vector<Citation>& citations) {
  nlohmann::json a = nlohmann::json::array();
  for (const Citation& c : citations)
    a.push_back({{"index", c.index}, {"title", c.title}, {"url", c.url}, {"snippet", c.snippet}, {"query", c.query}});
  return a;
}

bool RunWebSearchLoop(const ojson& messages, const ojson& tools, bool force_first, SearchBackend& backend,
                      const WebSearchOptions& opt, const SearchRoundFn& round, SearchLoopResult* out) {
  ojson msgs = messages;
  ojson with_search = tools.is_array() ? tools : ojson::array();
  with_search.push_back(WebSearchToolJson());
  int searches = 0, call_no = 0;
  std::string reasoning;
  SearchRound total;
  for (;;) {
    const bool may_search = searches < opt.max_searches;
    SearchRound r;
    if (!round(msgs, may_search ? with_search : tools, may_search && searches == 0 && force_first, &r)) return false;
    out->rounds++;
    total.prompt_tokens += r.prompt_tokens;
    total.completion_tokens += r.completion_tokens;
    total.cache_hit_tokens += r.cache_hit_tokens;
    total.reasoning_tokens += r.reasoning_tokens;
    total.in_think |= r.in_think;
    if (!r.reasoning.empty()) reasoning += (reasoning.empty() ? "" : "\n\n") + r.reasoning;
    std::vector<chat::ToolCall> search_calls, client_calls;
    for (auto& c : r.calls) (c.name == kWebSearchTool ? search_calls : client_calls).push_back(c);
    if (!may_search || search_calls.empty() || !client_calls.empty()) {
      // The answer (or the client's own calls, which the client runs): done. web_search calls
      // written anyway (past the limit, or beside the client's) are not the client's to run.
      r.calls = client_calls;
      if (!search_calls.empty() && client_calls.empty() && r.finish_reason == "tool_calls") r.finish_reason = "stop";
      r.reasoning = reasoning;
      r.prompt_tokens = total.prompt_tokens;
      r.completion_tokens = total.completion_tokens;
      r.cache_hit_tokens = total.cache_hit_tokens;
      r.reasoning_tokens = total.reasoning_tokens;
      r.in_think = total.in_think;
      out->answer = std::move(r);
      return true;
    }
    // The calls as an assistant turn (OpenAI's shape: arguments as a JSON string), then each
    // call's results as a tool message; the template renders both in the model's own format.
    ojson calls = ojson::array();
    for (auto& c : search_calls) {
      c.id = "call_ws" + std::to_string(call_no++);
      std::string q = QueryOf(c, msgs);
      calls.push_back({{"id", c.id}, {"type", "function"},
                       {"function", {{"name", kWebSearchTool}, {"arguments", ojson({{"query", q}}).dump()}}}});
      c.arguments = q;  // remember the query for the results below
    }
    ojson turn = {{"role", "assistant"}, {"content", r.content.empty() ? ojson(nullptr) : ojson(r.content)}};
    if (!r.reasoning.empty()) turn["reasoning_content"] = r.reasoning;
    turn["tool_calls"] = calls;
    msgs.push_back(turn);
    for (auto& c : search_calls) {
      const std::string& q = c.arguments;
      out->queries.push_back(q);
      auto hits = backend.Search(q, opt.results);
      std::string text;
      if (!hits.ok()) {
        text = "Search failed: " + hits.status().message();
      } else {
        const int first = static_cast<int>(out->citations.size()) + 1;
        text = FormatSearchResults(q, *hits, first);
        for (auto& h : *hits)
          out->citations.push_back({static_cast<int>(out->citations.size()) + 1, h.title, h.url, h.snippet, q});
      }
      msgs.push_back({{"role", "tool"}, {"tool_call_id", c.id}, {"content", text}});
    }
    searches++;
  }
}

}  // namespace qs::server
