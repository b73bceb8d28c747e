// Chat prompts for generation, shared by the HTTP server and `qiusuo run`: the model's template
// with the generation prompt and the request's template variables (thinking switch), a continued
// assistant prefix, and where the output starts (inside an opened <think> or not).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "chat/chat_template.h"
#include "chat/protocol.h"
#include "tokenizer/tokenizer.h"

namespace qs::chat {

struct ChatPrompt {
  std::string text;
  std::vector<int32_t> ids;
  // The prompt ends inside <think> (R1 templates, V3.1/V3.2 with thinking on): output starts as
  // reasoning.
  bool in_think = false;
};

struct ChatPromptOptions {
  // Extra template variables: the thinking switch, chat_template_kwargs (ChatProtocol::TemplateVars).
  nlohmann::ordered_json template_vars = nlohmann::ordered_json::object();
  // Appended after the rendered prompt: an assistant prefix to continue, a forced tool-call opening.
  std::string suffix;
  // Reasoning to continue (DeepSeek's prefix completion with reasoning_content): written inside
  // <think> (opened if the prompt did not), closed when `suffix` (the answer's prefix) follows.
  std::string reasoning_prefix;
  // If the prompt opened <think>, close it (JSON mode answers directly).
  bool close_think = false;
};

Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const ModelChatTemplate& mct, const ChatProtocol& protocol,
                                   const Tokenizer& tok, const nlohmann::ordered_json& messages,
                                   const nlohmann::ordered_json& tools, const ChatPromptOptions& opt);
// The same with the protocol detected from `mct` and no extra template variables.
Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const ModelChatTemplate& mct, const Tokenizer& tok,
                                   const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                   const std::string& suffix, bool close_think);

// Tokens that end an assistant turn: the config's eos, the tokenizer's, and the protocol's
// end-of-turn tokens the vocabulary has.
std::vector<int32_t> EndOfTurnIds(const Tokenizer& tok, int64_t config_eos,
                                  const ChatProtocol& protocol = ProtocolFor(ChatFamily::kDeepSeekV3));

}  // namespace qs::chat
