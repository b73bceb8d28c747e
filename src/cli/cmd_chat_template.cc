// qiusuo chat-template: render a conversation with a model's chat template, exactly as
// transformers' apply_chat_template(..., tokenize=False) does. Writes the prompt to stdout and
// nothing else (no trailing newline), so its bytes can be compared with a reference.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/command.h"
#include "cli/common.h"
#include "io/mapped_file.h"
#include "chat/chat_template.h"
#include "runtime/model_package.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, tmpl, messages, tools, extra;
  std::string bos, eos;
  bool add_generation_prompt = false;
};


Result<nlohmann::ordered_json> ParseJsonText(const std::string& text, const std::string& what) {
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) return InvalidArgument(what + ": malformed JSON");
  return j;
}

Result<std::string> Render(const Opts& o, CLI::App* app) {
  ChatRenderOptions opt;
  opt.add_generation_prompt = o.add_generation_prompt;
  std::string source;
  if (!o.model.empty()) {
    ModelPackageOptions po;
    po.model = po.tokenizer = false;
    po.chat_template = true;
    QS_ASSIGN_OR_RETURN(ModelPackage pkg, OpenModelPackage(o.model, po));
    ModelChatTemplate& m = *pkg.chat_template;
    source = std::move(m.source);
    opt.bos_token = m.bos_token;
    opt.eos_token = m.eos_token;
  } else {
    QS_ASSIGN_OR_RETURN(source, ReadTextFile(o.tmpl));
  }
  if (app->count("--bos-token")) opt.bos_token = o.bos;
  if (app->count("--eos-token")) opt.eos_token = o.eos;

  QS_ASSIGN_OR_RETURN(std::string mtext, ReadTextFile(o.messages));
  QS_ASSIGN_OR_RETURN(nlohmann::ordered_json messages, ParseJsonText(mtext, o.messages));
  nlohmann::ordered_json tools;  // null: no tools
  // Also accept a request-like object {"messages": [...], "tools": [...]}.
  if (messages.is_object() && messages.contains("messages")) {
    if (messages.contains("tools")) tools = messages["tools"];
    messages = nlohmann::ordered_json(messages["messages"]);
  }
  if (!o.tools.empty()) {
    QS_ASSIGN_OR_RETURN(std::string ttext, ReadTextFile(o.tools));
    QS_ASSIGN_OR_RETURN(tools, ParseJsonText(ttext, o.tools));
  }
  if (!o.extra.empty()) {
    QS_ASSIGN_OR_RETURN(opt.extra_context, ParseJsonText(o.extra, "--extra-context"));
  }
  QS_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::Compile(source));
  return t.Render(messages, tools, opt);
}

QS_COMMAND(chat_template, "chat-template", "render a conversation with a chat template (as transformers does)",
           [](CLI::App* app) {
             auto o = std::make_shared<Opts>();
             auto* model = app->add_option("--model", o->model, "model directory or .gguf file");
             auto* tmpl = app->add_option("--template", o->tmpl, "Jinja chat template file");
             model->excludes(tmpl);
             tmpl->excludes(model);
             app->add_option("--bos-token", o->bos,
                             "bos_token value (default: the model's; undefined with --template)");
             app->add_option("--eos-token", o->eos,
                             "eos_token value (default: the model's; undefined with --template)");
             app->add_option("--messages", o->messages, "JSON file: the messages array")->required();
             app->add_option("--tools", o->tools, "JSON file: the tools array");
             app->add_option("--extra-context", o->extra,
                             "JSON object of extra template variables, e.g. '{\"thinking\": true}'");
             app->add_flag("--add-generation-prompt", o->add_generation_prompt, "end with the assistant turn's header");
             return [o, app] {
               if (o->model.empty() && o->tmpl.empty())
                 return Fail(InvalidArgument("one of --model or --template is required"));
               auto r = Render(*o, app);
               if (!r.ok()) return Fail(r.status());
               std::fwrite(r->data(), 1, r->size(), stdout);
               std::fflush(stdout);
               return 0;
             };
           });

}  // namespace
}  // namespace qs::cli
