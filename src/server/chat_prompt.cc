#include "server/chat_prompt.h"

#include <algorithm>

namespace qs::server {

Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const ModelChatTemplate& mct, const Tokenizer& tok,
                                   const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                   const std::string& suffix, bool close_think) {
  ChatRenderOptions ro;
  ro.add_generation_prompt = true;
  ro.bos_token = mct.bos_token;
  ro.eos_token = mct.eos_token;
  auto rendered = tmpl.Render(messages, tools, ro);
  if (!rendered.ok()) return rendered.status().With("chat template " + mct.origin);
  ChatPrompt p;
  p.text = std::move(*rendered);
  size_t open = p.text.rfind("<think>"), close = p.text.rfind("</think>");
  p.in_think = open != std::string::npos && (close == std::string::npos || close < open);
  if (p.in_think && close_think) {
    p.text += "\n</think>\n\n";
    p.in_think = false;
  }
  p.text += suffix;
  if (!suffix.empty()) {  // a continued prefix may itself open or close the thinking part
    open = p.text.rfind("<think>");
    close = p.text.rfind("</think>");
    p.in_think = open != std::string::npos && (close == std::string::npos || close < open);
  }
  // The template writes the special tokens (BOS, role markers) as text: parse them.
  QS_ASSIGN_OR_RETURN(p.ids, tok.Encode(p.text, /*parse_special=*/true, /*add_bos=*/false));
  return p;
}

std::vector<int32_t> EndOfTurnIds(const Tokenizer& tok, int64_t config_eos) {
  std::vector<int32_t> ids;
  auto add = [&](int64_t id) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(static_cast<int32_t>(id));
  };
  add(config_eos);
  add(tok.eos_id());
  for (const char* t : {"<｜end▁of▁sentence｜>", "<|im_end|>", "<|eot_id|>", "<|endoftext|>"}) add(tok.TokenId(t));
  return ids;
}

bool IsReasoningTemplate(const std::string& source) {
  // Written as a Jinja string literal ("<think>\\n") or a raw newline.
  return source.find("<think>\\n") != std::string::npos || source.find("<think>\n") != std::string::npos;
}

}  // namespace qs::server
