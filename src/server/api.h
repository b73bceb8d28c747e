// Request parsing and validation for the OpenAI/DeepSeek-compatible API. Wrong JSON or wrong
// types are 400 (invalid_request_error), values out of range are 422, as DeepSeek's API answers
// (https://api-docs.deepseek.com/quick_start/error_codes).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/sampler.h"

namespace qs::server {

struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string code = "invalid_request_error";
  std::string param;  // empty: null
  nlohmann::json ToJson() const;
};

// Fields common to chat and completions.
struct GenOptions {
  SamplingParams sampling;
  bool temperature_set = false, top_p_set = false;
  int64_t max_tokens = -1;  // -1: up to the context
  std::vector<std::string> stop;
  bool stream = false, include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
};

struct ChatRequest {
  GenOptions gen;
  nlohmann::ordered_json messages;  // as given, content parts flattened to strings
  nlohmann::ordered_json tools;     // null when none
  std::string tool_choice = "auto";  // none | auto | required | the forced function's name
  bool forced_tool = false;          // tool_choice names a function
  bool json_mode = false;            // json_object or json_schema: the answer is JSON
  nlohmann::ordered_json json_schema;  // response_format json_schema's schema; null when none
  bool parallel_tool_calls = true;   // false: at most one call per answer
  bool prefix = false;               // last assistant message continues (chat prefix completion)
  std::string prefix_text;
  std::string prefix_reasoning;      // its reasoning_content: the reasoning to continue
  bool raw_reasoning = false;        // "reasoning_format": "raw"/"none": tags inline in content
  // The thinking switch: "thinking": {"type": "enabled" | "disabled"}, else implied by
  // "reasoning_effort" (any value but "none" enables it); nullopt: the template's default.
  std::optional<bool> thinking;
  std::string reasoning_effort;      // passed to the template as `reasoning_effort`; empty: unset
  nlohmann::ordered_json template_kwargs;  // "chat_template_kwargs": extra template variables; null when none
  std::string model;
  std::string user;  // OpenAI's end-user id: part of the prefix-cache namespace
  // The server-side web_search tool (server/web_search.h): "web_search": true or a tool
  // {type: "web_search"}; forced: tool_choice names it.
  bool web_search = false, web_search_forced = false;
};

struct CompletionRequest {
  GenOptions gen;
  std::string prompt, suffix, model, user;
  bool echo = false;
};

// Nesting deeper than this anywhere in a request body is refused with 400 before the body is
// parsed: nlohmann's DOM (copies, dumps) and the Jinja renderer recurse per level, so a field
// nested 10^5 deep would overflow the stack. Real tool schemas stay far below 128.
constexpr int kDefaultMaxJsonDepth = 128;

// The deepest [ / { nesting in `body` outside strings, counting no further than `limit` + 1
// (enough to tell that it is over). Not a validator: the JSON parser runs afterwards.
int JsonNestingDepth(std::string_view body, int limit);

// Sampling defaults for what the request left unset: DeepSeek-R1's recommended temperature 0.6 and
// top_p 0.95 for reasoning models (https://huggingface.co/deepseek-ai/DeepSeek-R1#usage-recommendations),
// else OpenAI's 1.0 / 1.0.
void ApplySamplingDefaults(GenOptions* g, bool reasoning_model);

// Extra chat fields (server/api_extras.cc): response_format json_schema, parallel_tool_calls, strict
// tools' schemas. Called by ParseChatRequest.
std::optional<ApiError> ParseChatExtras(const nlohmann::ordered_json& j, ChatRequest* r);
// logit_bias ({"token id": bias in [-100, 100]}), for chat and completions.
std::optional<ApiError> ParseLogitBias(const nlohmann::ordered_json& j, GenOptions* g);
// 422 when a logit_bias token id is outside the model's vocabulary.
std::optional<ApiError> CheckLogitBias(const GenOptions& g, int64_t vocab_size);

// Both return an error for malformed bodies; `body` is the raw request body.
// `max_depth`: the nesting limit (--max-json-depth).
std::optional<ApiError> ParseChatRequest(const std::string& body, ChatRequest* out,
                                         int max_depth = kDefaultMaxJsonDepth);
std::optional<ApiError> ParseCompletionRequest(const std::string& body, CompletionRequest* out,
                                               int max_depth = kDefaultMaxJsonDepth);

// JSON text with invalid UTF-8 replaced (token text may split characters).
std::string Dump(const nlohmann::json& j);

}  // namespace qs::server
