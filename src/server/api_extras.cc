// Request fields beyond the core chat/completions ones (response_format json_schema,
// parallel_tool_calls, strict tools, logit_bias) and the constraint they ask for.
#include "server/api_extras.h"

#include <cerrno>
#include <cstdlib>

#include "runtime/grammar.h"
#include "runtime/json_schema_grammar.h"
#include "runtime/tool_grammar.h"

namespace qs::server {

using ojson = nlohmann::ordered_json;

namespace {

ApiError Err(int status, const std::string& msg, const std::string& param) {
  ApiError e;
  e.status = status;
  e.message = msg;
  e.param = param;
  if (status == 422) e.code = "invalid_parameter";
  return e;
}

bool AnyStrictTool(const ojson& tools) {
  if (!tools.is_array()) return false;
  for (auto& t : tools) {
    if (!t.contains("function")) continue;
    const ojson& fn = t["function"];
    if (fn.contains("strict") && fn["strict"].is_boolean() && fn["strict"].get<bool>()) return true;
  }
  return false;
}

}  // namespace

std::optional<ApiError> ParseChatExtras(const ojson& j, ChatRequest* r) {
  // response_format: {type: "json_schema", json_schema: {name, schema, strict, description}}
  // (OpenAI's structured outputs; LangChain's with_structured_output sends it by default).
  if (auto rf = j.find("response_format");
      rf != j.end() && rf->is_object() && rf->contains("type") && (*rf)["type"] == "json_schema") {
    auto js = rf->find("json_schema");
    if (js == rf->end() || !js->is_object())
      return Err(400, "'response_format.json_schema' must be {name, schema, strict}", "response_format");
    if (auto n = js->find("name"); n != js->end() && !n->is_string())
      return Err(400, "'response_format.json_schema.name' must be a string", "response_format");
    if (auto s = js->find("strict"); s != js->end() && !s->is_boolean() && !s->is_null())
      return Err(400, "'response_format.json_schema.strict' must be a boolean", "response_format");
    auto schema = js->find("schema");
    // No schema: any JSON value, as OpenAI treats it.
    r->json_schema = schema == js->end() || schema->is_null() ? ojson::object() : *schema;
    if (!r->json_schema.is_object() && !r->json_schema.is_boolean())
      return Err(400, "'response_format.json_schema.schema' must be a JSON schema object", "response_format");
    Grammar scratch;
    JsonSchemaGrammar c(&scratch, r->json_schema);
    if (auto g = c.Compile(r->json_schema); !g.ok())
      return Err(400, "response_format.json_schema: " + g.status().message(), "response_format");
  }
  if (auto p = j.find("parallel_tool_calls"); p != j.end() && !p->is_null()) {
    if (!p->is_boolean()) return Err(400, "'parallel_tool_calls' must be a boolean", "parallel_tool_calls");
    r->parallel_tool_calls = p->get<bool>();
  }
  // strict tools: their parameters must be in the schema subset the grammar covers.
  if (r->tools.is_array()) {
    for (size_t i = 0; i < r->tools.size(); ++i) {
      const ojson& fn = r->tools[i]["function"];
      auto s = fn.find("strict");
      if (s == fn.end() || s->is_null()) continue;
      if (!s->is_boolean()) return Err(400, "tools[" + std::to_string(i) + "].function.strict must be a boolean", "tools");
      if (!s->get<bool>() || !fn.contains("parameters")) continue;
      Status st = CheckToolSchema(fn["parameters"]);
      if (!st.ok())
        return Err(400, "tools[" + std::to_string(i) + "] (" + fn["name"].get<std::string>() +
                            ").function.parameters: " + st.message(), "tools");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ParseLogitBias(const ojson& j, GenOptions* g) {
  auto lb = j.find("logit_bias");
  if (lb == j.end() || lb->is_null()) return std::nullopt;
  if (!lb->is_object()) return Err(400, "'logit_bias' must be an object of {\"token id\": bias}", "logit_bias");
  if (lb->size() > 1024) return Err(422, "'logit_bias' takes at most 1024 tokens", "logit_bias");
  for (auto it = lb->begin(); it != lb->end(); ++it) {
    const std::string& key = it.key();
    char* end = nullptr;
    errno = 0;
    long long id = key.empty() ? -1 : std::strtoll(key.c_str(), &end, 10);
    if (key.empty() || *end != '\0' || errno != 0 || id < 0 || id > INT32_MAX || key[0] == '+' || key[0] == ' ')
      return Err(400, "'logit_bias' keys must be token ids (non-negative integers), not '" + key + "'", "logit_bias");
    if (!it.value().is_number()) return Err(400, "'logit_bias' values must be numbers", "logit_bias");
    double b = it.value().get<double>();
    if (!(b >= -100 && b <= 100))
      return Err(422, "'logit_bias' values must be between -100 and 100 (token " + key + ")", "logit_bias");
    g->sampling.logit_bias.emplace_back(static_cast<int32_t>(id), static_cast<float>(b));
  }
  return std::nullopt;
}

std::optional<ApiError> CheckLogitBias(const GenOptions& g, int64_t vocab_size) {
  for (const auto& [id, b] : g.sampling.logit_bias)
    if (id >= vocab_size)
      return Err(422, "'logit_bias' token id " + std::to_string(id) + " is outside the vocabulary (" +
                          std::to_string(vocab_size) + " tokens)", "logit_bias");
  return std::nullopt;
}

std::optional<ApiError> MakeChatConstraint(const ChatRequest& r, const chat::ChatProtocol& protocol,
                                           const Tokenizer& tok,
                                           const std::function<std::shared_ptr<const VocabBytes>()>& vocab,
                                           const std::vector<int32_t>& eos_ids, bool use_tools,
                                           std::shared_ptr<TokenConstraint>* out) {
  out->reset();
  const bool force = use_tools && (r.forced_tool || r.tool_choice == "required");
  if (use_tools && protocol.tools != chat::ToolSyntax::kNone && (force || AnyStrictTool(r.tools))) {
    ToolGrammarOptions o;
    o.mode = r.forced_tool ? ToolGrammarOptions::kNamed : force ? ToolGrammarOptions::kRequired : ToolGrammarOptions::kAuto;
    o.name = r.forced_tool ? r.tool_choice : "";
    o.parallel = r.parallel_tool_calls;
    SpecialTokens sp(&tok);
    auto g = ToolCallGrammar(protocol, r.tools, o, &sp);
    if (!g.ok()) return Err(400, "tools: " + g.status().message(), "tools");
    *out = std::make_shared<GrammarConstraint>(std::move(g).value(), vocab(), eos_ids, sp.tokens());
    return std::nullopt;
  }
  if (!r.json_schema.is_null()) {
    auto g = JsonSchemaToGrammar(r.json_schema);
    if (!g.ok()) return Err(400, "response_format.json_schema: " + g.status().message(), "response_format");
    *out = std::make_shared<GrammarConstraint>(std::move(g).value(), vocab(), eos_ids);
    return std::nullopt;
  }
  if (r.json_mode) *out = std::make_shared<JsonConstraint>(vocab(), eos_ids);
  return std::nullopt;
}

}  // namespace qs::server
