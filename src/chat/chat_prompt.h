// Chat prompts for generation, shared by the HTTP server and `qiusuo run`: the model's template
// with the generation prompt, a continued assistant prefix, and where the output starts (inside
// an opened <think> or not).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/status.h"
#include "chat/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace qs::chat {

struct ChatPrompt {
  std::string text;
  std::vector<int32_t> ids;
  bool in_think = false;  // the prompt ends inside <think> (R1 templates): output starts as reasoning
};

// `suffix` is appended after the rendered prompt (an assistant prefix to continue, a forced tool
// call opening). `close_think`: if the prompt opened <think>, close it (JSON mode answers directly).
Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const ModelChatTemplate& mct, const Tokenizer& tok,
                                   const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                   const std::string& suffix, bool close_think);

// Tokens that end an assistant turn: the config's eos, the tokenizer's, DeepSeek's
// <｜end▁of▁sentence｜> and the ChatML / Llama-3 ends when present.
std::vector<int32_t> EndOfTurnIds(const Tokenizer& tok, int64_t config_eos);

// A reasoning (R1-style) model: its template opens <think> for the answer.
bool IsReasoningTemplate(const std::string& source);

}  // namespace qs::chat
