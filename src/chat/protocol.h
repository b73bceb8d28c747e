// Chat protocols: what a model family's chat format means for the server, as data. The chat
// template renders prompts; the protocol says how to read the model's answer back (end-of-turn
// tokens, reasoning markers, tool-call syntax) and which template variable switches thinking.
//
// A protocol is chosen once, when the model is opened (DetectChatProtocol), from its template and
// architecture. Nothing outside chat/ looks at template text: the server and the CLI ask the
// protocol.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "chat/chat_template.h"

namespace qs::chat {

enum class ChatFamily {
  kGeneric,     // no DeepSeek chat markup known (Qwen2.5, DeepSeek-LLM/Coder, V2): no tool calls
  kDeepSeekV3,  // V3 / V3-0324: tool calls "function<｜tool▁sep｜>NAME\n```json\nARGS\n```"
  kDeepSeekR1,  // R1 / R1-0528: V3's format, the prompt always opens <think>
  kR1Distill,   // R1-Distill-Qwen / -Llama (dense): R1's template on a Qwen2 / Llama model
  kDeepSeekV31, // V3.1 / V3.1-Terminus: hybrid thinking ("thinking" variable), "NAME<｜tool▁sep｜>ARGS"
  kDeepSeekV32, // V3.2: hybrid thinking, DSML tool-call markup
  kDeepSeekV4,  // V4 / V4-Flash: hybrid thinking ("<think>" / "</think>"), `reasoning_effort`
                // ("high" / "max" prefix the prompt), DSML markup inside "tool_calls"
};

enum class ToolSyntax {
  kNone,
  kV3,    // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>…
  kV31,   // <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>…
  kDsml,  // <｜DSML｜function_calls><｜DSML｜invoke name="N"><｜DSML｜parameter name="K" string="true|false">V</…>…
};

struct ChatProtocol {
  ChatFamily family = ChatFamily::kGeneric;
  std::string name = "generic";  // for logs: "deepseek-v3.2", ...
  // Texts of the tokens that end an assistant turn (those the vocabulary has are used).
  std::vector<std::string> end_of_turn = {"<｜end▁of▁sentence｜>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>"};
  std::string think_open = "<think>", think_close = "</think>";
  // The generation prompt opens the reasoning block whatever the request says (R1, R1-Distill).
  bool always_reasons = false;
  // The template's thinking switch ("thinking" for V3.1 / V3.2); empty: the template has none.
  std::string thinking_variable;
  ToolSyntax tools = ToolSyntax::kNone;
  std::string dsml_block = "function_calls";  // DSML: the element around the invokes

  bool has_thinking_switch() const { return !thinking_variable.empty(); }
  // Text appended to the generation prompt to force a tool call, as if the model had started
  // writing it: `name` is the function (tool_choice names one) or empty (tool_choice "required").
  // Empty when the syntax has no tool calls.
  std::string ForcedToolOpening(const std::string& name) const;
  // The template variables for a request: `thinking` (nullopt: the template's default) sets the
  // thinking switch where the template has one, `reasoning_effort` (empty: none) is passed as
  // "reasoning_effort", and `kwargs` (chat_template_kwargs, an object or null) go in last, so
  // a client's explicit variables win.
  nlohmann::ordered_json TemplateVars(std::optional<bool> thinking, const std::string& reasoning_effort,
                                      const nlohmann::ordered_json& kwargs) const;
  // True when `prompt` (a rendered prompt) ends inside an opened reasoning block, so the answer
  // starts as reasoning.
  bool EndsInThink(const std::string& prompt) const;
};

// The protocol for a family (its tokens and syntax).
ChatProtocol ProtocolFor(ChatFamily family);

// Picks the family from the template a model ships (its markup and variables).
// `model_family`: the architecture spec's chat family (ModelInfo::chat_family, model/arch/), e.g.
// "deepseek-r1-distill" for the dense distills, whose template is R1's.
ChatProtocol DetectChatProtocol(const ModelChatTemplate& mct, const std::string& model_family = "");

}  // namespace qs::chat
