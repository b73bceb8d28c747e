// Grammars for tool calls in a chat protocol's own syntax (chat/protocol.h): what the model may
// write after the prompt when `tool_choice` is "required" or names a function (the prompt already
// ends with ChatProtocol::ForcedToolOpening, so the grammar starts after it), or when strict tools
// are offered with "auto" (free text, then optionally the calls).
//
// Names are limited to the declared tools (the named one for a named choice); arguments follow the
// tool's `parameters` schema when the tool is `strict: true` (runtime/json_schema_grammar.h), or in
// a forced call when the schema is in the supported subset (vLLM's practice for forced calls), and
// are any JSON object otherwise (V3 / V3.1), or any well-formed DSML parameters (V3.2). With
// `parallel_tool_calls: false` the section holds exactly one call. In DSML, string="true" values
// are raw text without '<' (the markup's next tag starts with it).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "chat/protocol.h"
#include "runtime/grammar.h"

namespace qs {

struct ToolGrammarOptions {
  enum Mode { kAuto, kRequired, kNamed } mode = kRequired;
  std::string name;       // kNamed: the function
  bool parallel = true;   // more than one call allowed
};

// `tools`: the request's tools ([{type: function, function: {name, parameters, strict}}]).
// `special`: how the protocol's markup tokens are written into the grammar.
Result<std::shared_ptr<Grammar>> ToolCallGrammar(const chat::ChatProtocol& protocol,
                                                 const nlohmann::ordered_json& tools,
                                                 const ToolGrammarOptions& opt, SpecialTokens* special);

// Checks a strict tool's parameters schema (the JSON-schema subset); the error names the keyword.
Status CheckToolSchema(const nlohmann::ordered_json& parameters);

}  // namespace qs
