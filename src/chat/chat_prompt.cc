#include "chat/chat_prompt.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string_view>

namespace qs::chat {

namespace {

// Placeholder for a protected message content: U+E000 <index> U+E001 (private-use characters,
// never special tokens).
constexpr std::string_view kOpen = "\xEE\x80\x80", kClose = "\xEE\x80\x81";

// True when `text` holds special or markup tokens that parse_special would turn into control
// tokens ("<｜Assistant｜>", "<｜tool▁calls▁begin｜>", "<think>").
bool HasControlTokens(const Tokenizer& tok, const std::string& text) {
  if (text.find_first_of("<[") == std::string::npos && text.find("\xEF\xBD\x9C") == std::string::npos)
    return false;  // no markup-like or "｜" text: nothing to match (cheap common case)
  auto a = tok.Encode(text, /*parse_special=*/true, /*add_bos=*/false);
  auto b = tok.Encode(text, /*parse_special=*/false, /*add_bos=*/false);
  return a.ok() && b.ok() && *a != *b;
}

}  // namespace

Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const ModelChatTemplate& mct, const Tokenizer& tok,
                                   const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                   const std::string& suffix, bool close_think) {
  ChatPromptOptions o;
  o.suffix = suffix;
  o.close_think = close_think;
  return BuildChatPrompt(tmpl, mct, DetectChatProtocol(mct), tok, messages, tools, o);
}

Result<ChatPrompt> BuildChatPrompt(const ChatTemplate& tmpl, const ModelChatTemplate& mct, const ChatProtocol& protocol,
                                   const Tokenizer& tok, const nlohmann::ordered_json& messages,
                                   const nlohmann::ordered_json& tools, const ChatPromptOptions& opt) {
  const std::string& suffix = opt.suffix;
  // The template writes the special tokens (BOS, role markers) as text, so the rendered prompt is
  // tokenized with parse_special. Text a user wrote must not become control tokens that way (a
  // user message containing "<｜Assistant｜>" would forge a turn): system, user and tool contents
  // that hold such text are rendered as placeholders and tokenized as plain text in their place.
  // Assistant contents are left alone: templates rewrite them (R1 drops the <think> part).
  // A random tag in the placeholders keeps text that imitates one from being taken for one.
  nlohmann::ordered_json msgs = messages;
  std::vector<std::string> literal;
  const std::string tag = std::string(kOpen) + std::to_string(std::random_device{}()) + ":";
  for (auto& m : msgs) {
    if (!m.is_object() || m.value("role", "") == "assistant") continue;
    auto c = m.find("content");
    if (c == m.end() || !c->is_string() || !HasControlTokens(tok, c->get<std::string>())) continue;
    literal.push_back(c->get<std::string>());
    *c = tag + std::to_string(literal.size() - 1) + std::string(kClose);
  }
  ChatRenderOptions ro;
  ro.add_generation_prompt = true;
  ro.bos_token = mct.bos_token;
  ro.eos_token = mct.eos_token;
  ro.extra_context = opt.template_vars;
  auto rendered = tmpl.Render(msgs, tools, ro);
  if (!rendered.ok()) return rendered.status().With("chat template " + mct.origin);
  std::string text = std::move(*rendered);  // with placeholders: <think> here is the template's
  ChatPrompt p;
  p.in_think = protocol.EndsInThink(text);
  if (p.in_think && opt.close_think) {
    text += "\n" + protocol.think_close + "\n\n";
    p.in_think = false;
  }
  if (!opt.reasoning_prefix.empty()) {
    if (!p.in_think) text += protocol.think_open;
    text += opt.reasoning_prefix;
    if (!suffix.empty()) text += protocol.think_close;
  }
  text += suffix;
  if (!suffix.empty() || !opt.reasoning_prefix.empty())
    p.in_think = protocol.EndsInThink(text);  // a continued prefix may open or close it
  if (literal.empty()) {  // the common case: one piece
    p.text = std::move(text);
    QS_ASSIGN_OR_RETURN(p.ids, tok.Encode(p.text, /*parse_special=*/true, /*add_bos=*/false));
    return p;
  }
  // Tokenize the template's text with parse_special and each protected content without it.
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t a = text.find(tag, pos), b = a == std::string::npos ? a : text.find(kClose, a);
    size_t idx = literal.size();
    if (b != std::string::npos) idx = std::strtoul(text.c_str() + a + tag.size(), nullptr, 10);
    if (a == std::string::npos || b == std::string::npos || idx >= literal.size()) a = b = text.size();
    QS_ASSIGN_OR_RETURN(auto ids, tok.Encode(std::string_view(text).substr(pos, a - pos), /*parse_special=*/true,
                                              /*add_bos=*/false));
    p.ids.insert(p.ids.end(), ids.begin(), ids.end());
    p.text.append(text, pos, a - pos);
    if (a == text.size()) break;
    QS_ASSIGN_OR_RETURN(ids, tok.Encode(literal[idx], /*parse_special=*/false, /*add_bos=*/false));
    p.ids.insert(p.ids.end(), ids.begin(), ids.end());
    p.text += literal[idx];
    pos = b + kClose.size();
  }
  return p;
}

std::vector<int32_t> EndOfTurnIds(const Tokenizer& tok, int64_t config_eos, const ChatProtocol& protocol) {
  std::vector<int32_t> ids;
  auto add = [&](int64_t id) {
    if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(static_cast<int32_t>(id));
  };
  add(config_eos);
  add(tok.eos_id());
  for (const std::string& t : protocol.end_of_turn) add(tok.TokenId(t));
  return ids;
}

}  // namespace qs::chat
