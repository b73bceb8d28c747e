// Web search as a server-side tool (the DeepSeek app's 联网搜索), off unless the server has a
// search backend (`serve --web-search-index PATH`, server/search_index.h) and the request opts in
// with `"web_search": true` or a tool `{"type": "web_search"}`.
//
// The server then declares a `web_search(query)` function to the model beside the request's own
// tools and generates. When the answer is a web_search call, the server runs the search, appends
// the call (an assistant turn) and its results (a `tool` message, numbered [1], [2], … across the
// whole conversation) to the messages, and generates again, so the results reach the model in its
// family's tool-result format through its own chat template (V3: <｜tool▁output▁begin｜>, V3.2:
// <function_results>, V4: <tool_result>). It stops after an answer without a search, after
// `max_searches` rounds of searching (the last round is generated without the tool), or when the
// model calls one of the client's functions (those calls go back to the client as usual). The
// client gets the final answer and `citations`: every result the model was shown.
//
// The loop itself (RunWebSearchLoop) knows no HTTP and no model: it gets a function that generates
// one round, so tests drive it with scripted model outputs.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/tool_calls.h"
#include "server/api.h"
#include "server/search_index.h"

namespace qs::server {

inline constexpr const char* kWebSearchTool = "web_search";

struct WebSearchOptions {
  int max_searches = 3;  // rounds that may search; the next one answers without the tool
  int results = 5;       // hits per search
};

// The function declared to the model (OpenAI tool shape).
nlohmann::ordered_json WebSearchToolJson();

// Takes the web-search opt-in out of a chat request body before the usual parsing:
// "web_search": true | false, or an entry {"type": "web_search"} in "tools" (removed from them; the
// server declares the function itself). A tool_choice naming web_search ({"type": "function",
// "function": {"name": "web_search"}} or {"type": "web_search"}) is removed too and sets *forced:
// the first round must search. 400 for a wrong type.
std::optional<ApiError> ExtractWebSearch(nlohmann::ordered_json* body, bool* enabled, bool* forced);

struct Citation {
  int index = 0;  // the [n] the model saw
  std::string title, url, snippet, query;
};

// What one generation round produced.
struct SearchRound {
  std::string content, reasoning;
  std::vector<chat::ToolCall> calls;
  std::string finish_reason = "stop";
  int64_t prompt_tokens = 0, completion_tokens = 0, cache_hit_tokens = 0, reasoning_tokens = 0;
  bool in_think = false;  // the prompt opened <think> (the answer has a reasoning part)
};

// Generates one round for `messages` with `tools` (null: none); `force_search`: the answer must be
// a web_search call (its opening is written into the prompt). false: stop (the caller keeps why).
using SearchRoundFn = std::function<bool(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                         bool force_search, SearchRound* out)>;

struct SearchLoopResult {
  SearchRound answer;  // the last round; reasoning holds every round's, usage every round's sum
  std::vector<Citation> citations;
  std::vector<std::string> queries;
  int rounds = 0;
};

// Runs the loop described above. `messages` and `tools` are the request's (validated); false when
// a round returned false.
bool RunWebSearchLoop(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools, bool force_first,
                      SearchBackend& backend, const WebSearchOptions& opt, const SearchRoundFn& round,
                      SearchLoopResult* out);

// The tool message's text for `hits`, numbered from `first`.
std::string FormatSearchResults(const std::string& query, const std::vector<SearchHit>& hits, int first);

nlohmann::json CitationsJson(const std::vector<Citation>& citations);

}  // namespace qs::server
