#include "chat/chat_template.h"

#include "io/mapped_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "io/gguf.h"

namespace qs {

// The exact chat_template of DeepSeek-V3's tokenizer_config.json (no trailing newline).
const char kFallbackChatTemplate[] =
    R"JINJA({% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %})JINJA"
    R"JINJA({% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_firs)JINJA"
    R"JINJA(t_sp=true) %}{%- for message in messages %}{%- if message['role'] == 'system' %})JINJA"
    R"JINJA({%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %})JINJA"
    R"JINJA({% set ns.is_first_sp = false %}{%- else %})JINJA"
    R"JINJA({% set ns.system_prompt = ns.system_prompt + '

' + message['content'] %}{%- endif %}{%- endif %})JINJA"
    R"JINJA({%- endfor %}{{bos_token}}{{ns.system_prompt}}{%- for message in messages %})JINJA"
    R"JINJA({%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}})JINJA"
    R"JINJA({%- endif %}{%- if message['role'] == 'assistant' and message['content'] is none %})JINJA"
    R"JINJA({%- set ns.is_tool = false -%}{%- for tool in message['tool_calls']%}{%- if not ns.is_first %})JINJA"
    R"JINJA({{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['fun)JINJA"
    R"JINJA(ction']['name'] + '
' + '```json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call)JINJA"
    R"JINJA(▁end｜>'}}{%- set ns.is_first = true -%}{%- else %})JINJA"
    R"JINJA({{'
' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '
' + '``)JINJA"
    R"JINJA(`json' + '
' + tool['function']['arguments'] + '
' + '```' + '<｜tool▁call▁end｜>'}})JINJA"
    R"JINJA({{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor %}{%- endif %})JINJA"
    R"JINJA({%- if message['role'] == 'assistant' and message['content'] is not none %}{%- if ns.is_tool %})JINJA"
    R"JINJA({{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}})JINJA"
    R"JINJA({%- set ns.is_tool = false -%}{%- else %})JINJA"
    R"JINJA({{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endif %})JINJA"
    R"JINJA({%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %})JINJA"
    R"JINJA({{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}})JINJA"
    R"JINJA({%- set ns.is_output_first = false %}{%- else %})JINJA"
    R"JINJA({{'
<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}{%- endif %}{%- endif %})JINJA"
    R"JINJA({%- endfor -%}{% if ns.is_tool %}{{'<｜tool▁outputs▁end｜>'}}{% endif %})JINJA"
    R"JINJA({% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜>'}}{% endif %})JINJA";

Result<ChatTemplate> ChatTemplate::Compile(const std::string& source) {
  QS_ASSIGN_OR_RETURN(jinja::Template t, jinja::Template::Parse(source));
  ChatTemplate ct;
  ct.tmpl_ = std::move(t);
  return ct;
}

Result<std::string> ChatTemplate::Render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                         const ChatRenderOptions& opt) const {
  if (!messages.is_array()) return InvalidArgument("chat template: messages must be a JSON array");
  if (!tools.is_null() && !tools.is_array())
    return InvalidArgument("chat template: tools must be a JSON array or null");
  if (!opt.extra_context.is_null() && !opt.extra_context.is_object())
    return InvalidArgument("chat template: extra context must be a JSON object");
  // What transformers passes to render(): tools/documents are always defined (None if absent);
  // special tokens only when the tokenizer has them; extra kwargs override special tokens.
  std::unordered_map<std::string, jinja::Value> vars;
  QS_ASSIGN_OR_RETURN(vars["messages"], jinja::FromJson(messages));
  QS_ASSIGN_OR_RETURN(vars["tools"], jinja::FromJson(tools));
  vars["documents"] = jinja::Value::None();
  vars["add_generation_prompt"] = jinja::Value(opt.add_generation_prompt);
  if (opt.bos_token) vars["bos_token"] = jinja::Value(*opt.bos_token);
  if (opt.eos_token) vars["eos_token"] = jinja::Value(*opt.eos_token);
  if (opt.extra_context.is_object()) {
    for (auto it = opt.extra_context.begin(); it != opt.extra_context.end(); ++it) {
      const std::string& k = it.key();
      if (k == "messages" || k == "tools" || k == "documents" || k == "add_generation_prompt")
        return InvalidArgument("chat template: extra context may not set '" + k + "'");
      QS_ASSIGN_OR_RETURN(vars[k], jinja::FromJson(it.value()));
    }
  }
  return tmpl_.Render(vars, opt.limits);
}

Result<std::string> RenderChatTemplate(const std::string& tmpl, const nlohmann::ordered_json& messages,
                                       const nlohmann::ordered_json& tools, const ChatRenderOptions& opt) {
  QS_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::Compile(tmpl));
  return t.Render(messages, tools, opt);
}

namespace {


Result<nlohmann::ordered_json> ReadJson(const std::string& path) {
  QS_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(path + ": malformed JSON");
  return j;
}

// tokenizer_config.json special tokens: a string, an AddedToken object {"content": ...}, or null.
std::optional<std::string> TokenString(const nlohmann::ordered_json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    return (*it)["content"].get<std::string>();
  return std::nullopt;
}

// "chat_template": a string, or [{"name": ..., "template": ...}] from which transformers uses
// "default" when no name is asked for.
Result<std::optional<std::string>> TemplateField(const nlohmann::ordered_json& cfg, const std::string& path) {
  auto it = cfg.find("chat_template");
  if (it == cfg.end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_array()) {
    for (const auto& t : *it) {
      if (t.is_object() && t.value("name", "") == "default" && t.contains("template") && t["template"].is_string())
        return std::optional<std::string>(t["template"].get<std::string>());
    }
    return InvalidArgument(path + ": the model has multiple chat templates and none named \"default\"");
  }
  return InvalidArgument(path + ": chat_template must be a string or a list of {name, template}");
}

Result<ModelChatTemplate> LoadFromGguf(const GgufFile* gguf) {
  const std::string& path = gguf->path();
  ModelChatTemplate out;
  if (gguf->Find("tokenizer.chat_template")) {
    QS_ASSIGN_OR_RETURN(out.source, gguf->GetString("tokenizer.chat_template"));
    out.origin = path + " (tokenizer.chat_template)";
  }
  auto tokens = gguf->GetArray("tokenizer.ggml.tokens", GgufValueType::kString);
  auto token = [&](const char* key) -> std::optional<std::string> {
    const GgufValue* v = gguf->Find(key);
    if (!v || !tokens.ok()) return std::nullopt;
    auto id = v->AsInt();
    const auto& strs = tokens.value()->strings;
    if (!id || *id < 0 || static_cast<size_t>(*id) >= strs.size()) return std::nullopt;
    return std::string(strs[static_cast<size_t>(*id)]);
  };
  out.bos_token = token("tokenizer.ggml.bos_token_id");
  out.eos_token = token("tokenizer.ggml.eos_token_id");
  return out;
}

Result<ModelChatTemplate> LoadFromDir(const std::string& dir) {
  namespace fs = std::filesystem;
  ModelChatTemplate out;
  const std::string cfg_path = (fs::path(dir) / "tokenizer_config.json").string();
  std::error_code ec;
  if (fs::exists(cfg_path, ec)) {
    QS_ASSIGN_OR_RETURN(auto cfg, ReadJson(cfg_path));
    if (!cfg.is_object()) return InvalidArgument(cfg_path + ": expected a JSON object");
    out.bos_token = TokenString(cfg, "bos_token");
    out.eos_token = TokenString(cfg, "eos_token");
    QS_ASSIGN_OR_RETURN(auto t, TemplateField(cfg, cfg_path));
    if (t) {
      out.source = *t;
      out.origin = cfg_path;
    }
  }
  // Newer checkpoints keep the template in its own file, which transformers prefers.
  const std::string jinja_path = (fs::path(dir) / "chat_template.jinja").string();
  const std::string json_path = (fs::path(dir) / "chat_template.json").string();
  if (fs::exists(jinja_path, ec)) {
    QS_ASSIGN_OR_RETURN(out.source, ReadTextFile(jinja_path));
    out.origin = jinja_path;
  } else if (out.origin.empty() && fs::exists(json_path, ec)) {
    QS_ASSIGN_OR_RETURN(auto j, ReadJson(json_path));
    if (j.is_object()) {
      QS_ASSIGN_OR_RETURN(auto t, TemplateField(j, json_path));
      if (t) {
        out.source = *t;
        out.origin = json_path;
      }
    }
  }
  return out;
}

// No template found: the built-in one, with a warning.
ModelChatTemplate OrFallback(ModelChatTemplate out, const std::string& path) {
  if (out.origin.empty()) {
    QS_LOG_WARN("%s has no chat template; using the built-in DeepSeek-V3 template", path.c_str());
    out.source = kFallbackChatTemplate;
    out.origin = "built-in";
    out.is_fallback = true;
  }
  return out;
}

}  // namespace

Result<ModelChatTemplate> LoadChatTemplate(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  ModelChatTemplate out;
  if (fs::is_directory(path, ec)) {
    QS_ASSIGN_OR_RETURN(out, LoadFromDir(path));
  } else if (fs::is_regular_file(path, ec)) {
    QS_ASSIGN_OR_RETURN(auto gguf, GgufFile::Open(path));
    QS_ASSIGN_OR_RETURN(out, LoadFromGguf(gguf.get()));
  } else {
    return NotFound("model path not found: " + path);
  }
  return OrFallback(std::move(out), path);
}

Result<ModelChatTemplate> LoadChatTemplate(const GgufFile& gguf) {
  QS_ASSIGN_OR_RETURN(ModelChatTemplate out, LoadFromGguf(&gguf));
  return OrFallback(std::move(out), gguf.path());
}

}  // namespace qs
