// Chat prompts from a model's own chat template, byte-identical to Hugging Face transformers'
// tokenizer.apply_chat_template(messages, tools=..., tokenize=False, add_generation_prompt=...).
//
// The template is Jinja (see jinja/jinja.h). It is rendered with the variables transformers
// passes: messages, tools (None when absent), documents (None), add_generation_prompt, the
// special tokens bos_token / eos_token (left undefined when the model has none), plus any extra
// keys (e.g. {"thinking": true} for DeepSeek-V3.1+, "enable_thinking", "reasoning_effort").
//
// JSON goes in as nlohmann::ordered_json because key order is visible in prompts: templates
// print tool schemas with `| tojson`, which keeps the order the caller gave, as Python does.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/status.h"
#include "jinja/jinja.h"

namespace qs {

struct ChatRenderOptions {
  bool add_generation_prompt = false;
  std::optional<std::string> bos_token;  // nullopt: the variable is not defined at all
  std::optional<std::string> eos_token;
  nlohmann::ordered_json extra_context = nlohmann::ordered_json::object();
  jinja::RenderLimits limits;
};

// A parsed chat template: parse once, render per request (thread-safe).
class ChatTemplate {
 public:
  static Result<ChatTemplate> Compile(const std::string& source);
  // `tools`: null (no tools) or an array of OpenAI-style tool definitions.
  Result<std::string> Render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                             const ChatRenderOptions& opt) const;

 private:
  jinja::Template tmpl_;
};

// One-shot convenience: compile + render.
Result<std::string> RenderChatTemplate(const std::string& tmpl, const nlohmann::ordered_json& messages,
                                       const nlohmann::ordered_json& tools, const ChatRenderOptions& opt);

// A model's template and special tokens.
struct ModelChatTemplate {
  std::string source;
  std::optional<std::string> bos_token, eos_token;
  std::string origin;        // the file it came from, or "built-in"
  bool is_fallback = false;  // the model has no template: the built-in DeepSeek-V3 one is used
};

// `path`: a model directory (chat_template.jinja, else tokenizer_config.json's "chat_template" as a
// string or a [{name, template}] list, from which "default" is taken, else chat_template.json),
// or a .gguf file (tokenizer.chat_template; bos/eos from tokenizer.ggml.*_token_id).
// Without a template it falls back to kFallbackChatTemplate and logs a warning.
Result<ModelChatTemplate> LoadChatTemplate(const std::string& path);
class GgufFile;
// The same from a GGUF file the caller has already opened (runtime/model_package.h opens it once).
Result<ModelChatTemplate> LoadChatTemplate(const GgufFile& gguf);

// DeepSeek-V3's chat template, used when a model ships none.
extern const char kFallbackChatTemplate[];

}  // namespace qs
