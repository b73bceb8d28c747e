#include "chat/protocol.h"

namespace qs::chat {

namespace {
bool Has(const std::string& s, const char* what) { return s.find(what) != std::string::npos; }
}  // namespace

ChatProtocol ProtocolFor(ChatFamily family) {
  ChatProtocol p;
  p.family = family;
  switch (family) {
    case ChatFamily::kGeneric:
      // No known markup: tools asked for anyway are forced and read in DeepSeek-V3's syntax,
      // the one most DeepSeek fine-tunes learned.
      p.tools = ToolSyntax::kV3;
      break;
    case ChatFamily::kDeepSeekV3:
      p.name = "deepseek-v3";
      p.tools = ToolSyntax::kV3;
      break;
    case ChatFamily::kDeepSeekR1:
      p.name = "deepseek-r1";
      p.tools = ToolSyntax::kV3;
      p.always_reasons = true;
      break;
    case ChatFamily::kR1Distill:
      p.name = "deepseek-r1-distill";
      p.tools = ToolSyntax::kV3;
      p.always_reasons = true;
      break;
    case ChatFamily::kDeepSeekV31:
      p.name = "deepseek-v3.1";
      p.tools = ToolSyntax::kV31;
      p.thinking_variable = "thinking";
      break;
    case ChatFamily::kDeepSeekV32:
      p.name = "deepseek-v3.2";
      p.tools = ToolSyntax::kDsml;
      p.thinking_variable = "thinking";
      break;
    case ChatFamily::kDeepSeekV4:
      // The released V4 templates (shared/fixtures/chat-templates/deepseek-ai-DeepSeek-V4*.jinja):
      // generation prompt "<｜Assistant｜><think>" with thinking on, "<｜Assistant｜></think>"
      // off (the default); tool results come back as "<tool_result>…</tool_result>" in a user
      // turn; calls are V3.2's DSML invokes inside <｜DSML｜tool_calls>.
      p.name = "deepseek-v4";
      p.tools = ToolSyntax::kDsml;
      p.dsml_block = "tool_calls";
      p.thinking_variable = "thinking";
      break;
  }
  return p;
}

ChatProtocol DetectChatProtocol(const ModelChatTemplate& mct, const std::string& model_family) {
  const std::string& s = mct.source;
  // DSML markup: V3.2 ("function_calls"); V4 writes the same invokes inside "tool_calls".
  if (Has(s, "DSML"))
    return ProtocolFor(!Has(s, "function_calls") && Has(s, "tool_calls>") ? ChatFamily::kDeepSeekV4
                                                                          : ChatFamily::kDeepSeekV32);
  // An R1-style generation prompt opens <think> and a newline, as a Jinja literal or raw.
  const bool opens_think = Has(s, "<think>\\n") || Has(s, "<think>\n");
  if (Has(s, "<｜tool▁sep｜>")) {
    if (!Has(s, "```json")) return ProtocolFor(ChatFamily::kDeepSeekV31);  // V3.1: NAME<sep>ARGS
    if (!opens_think) return ProtocolFor(ChatFamily::kDeepSeekV3);
    // The distills share R1's template; their architecture spec says which they are.
    return ProtocolFor(model_family == "deepseek-r1-distill" ? ChatFamily::kR1Distill : ChatFamily::kDeepSeekR1);
  }
  ChatProtocol p = ProtocolFor(ChatFamily::kGeneric);
  p.always_reasons = opens_think;  // a reasoning template without DeepSeek tool markup
  return p;
}

std::string ChatProtocol::ForcedToolOpening(const std::string& fn) const {
  const std::string open = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>", sep = "<｜tool▁sep｜>";
  switch (tools) {
    case ToolSyntax::kNone:
      return "";
    case ToolSyntax::kV3:
      return fn.empty() ? open + "function" + sep : open + "function" + sep + fn + "\n```json\n";
    case ToolSyntax::kV31:
      return fn.empty() ? open : open + fn + sep;
    case ToolSyntax::kDsml: {
      // The template separates content from the block with a blank line.
      std::string s = "\n\n<｜DSML｜" + dsml_block + ">\n";
      if (!fn.empty()) s += "<｜DSML｜invoke name=\"" + fn + "\">\n";
      return s;
    }
  }
  return "";
}

nlohmann::ordered_json ChatProtocol::TemplateVars(std::optional<bool> thinking, const std::string& reasoning_effort,
                                                  const nlohmann::ordered_json& kwargs) const {
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  if (thinking && has_thinking_switch()) vars[thinking_variable] = *thinking;
  if (!reasoning_effort.empty()) vars["reasoning_effort"] = reasoning_effort;
  if (kwargs.is_object())
    for (auto it = kwargs.begin(); it != kwargs.end(); ++it) vars[it.key()] = it.value();
  return vars;
}

bool ChatProtocol::EndsInThink(const std::string& prompt) const {
  size_t open = prompt.rfind(think_open), close = prompt.rfind(think_close);
  return open != std::string::npos && (close == std::string::npos || close < open);
}

}  // namespace qs::chat
