// Fuzz target: the Jinja chat-template engine on arbitrary bytes. The input is a template; an
// optional "\n---\n" separates a JSON messages array from it. Every input must parse and render
// or fail with a Status: no crash, no hang (tight step/size limits), no unbounded memory.
#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "chat/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::string tmpl = in, msgs_text;
  if (size_t sep = in.find("\n---\n"); sep != std::string::npos) {
    tmpl = in.substr(0, sep);
    msgs_text = in.substr(sep + 5);
  }
  nlohmann::ordered_json messages = nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"S"},{"role":"user","content":"Hi 你好"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"type":"function",)"
      R"("function":{"name":"f","arguments":"{\"a\":1}"}}]},)"
      R"({"role":"tool","content":"r"}])");
  if (!msgs_text.empty()) {
    auto j = nlohmann::ordered_json::parse(msgs_text, nullptr, false);
    if (!j.is_discarded()) messages = j;
  }
  qs::ChatRenderOptions opt;
  opt.add_generation_prompt = true;
  opt.bos_token = "<s>";
  opt.eos_token = "</s>";
  opt.limits.max_steps = 50000;
  opt.limits.max_output_bytes = 1 << 20;
  auto tools = nlohmann::ordered_json::parse(R"([{"type":"function","function":{"name":"f","parameters":{}}}])");
  auto r = qs::RenderChatTemplate(tmpl, messages, tools, opt);
  if (r.ok() && r->size() > opt.limits.max_output_bytes) __builtin_trap();
  return 0;
}
