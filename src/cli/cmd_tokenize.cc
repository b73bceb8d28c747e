// qiusuo tokenize: text -> token ids, one line, space-separated (the conformance interface).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "cli/common.h"
#include "io/mapped_file.h"
#include "runtime/model_package.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, text, file;
  bool special = false, bos = false;
};

int Run(const Opts& o, bool have_text) {
  if (have_text == !o.file.empty()) return Fail(InvalidArgument("tokenize: give exactly one of --text and --file"));
  ModelPackageOptions po;
  po.model = false;  // a directory, tokenizer.json or .gguf: only the tokenizer is read
  auto pkg = OpenModelPackage(o.model, po);
  if (!pkg.ok()) return Fail(pkg.status());
  const Tokenizer& tok = *pkg->tokenizer;
  std::string text = o.text;
  if (!o.file.empty()) {
    auto r = ReadTextFile(o.file);
    if (!r.ok()) return Fail(r.status());
    text = std::move(r).value();
  }
  auto ids = tok.Encode(text, o.special, o.bos);
  if (!ids.ok()) return Fail(ids.status().With(o.file.empty() ? "--text" : o.file));
  std::string line;
  line.reserve(ids->size() * 7 + 1);
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i) line += ' ';
    line += std::to_string((*ids)[i]);
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  return 0;
}

std::function<int()> Setup(CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model", o->model, "model directory, tokenizer.json or .gguf")->required();
  auto* text_opt = app->add_option("--text", o->text, "text to tokenize");
  app->add_option("--file", o->file, "file whose bytes are tokenized");
  app->add_flag("--special", o->special, "turn special-token text (e.g. <｜User｜>) into its ids");
  app->add_flag("--bos", o->bos, "add BOS/EOS as the model's tokenizer config asks");
  return [o, text_opt] { return Run(*o, text_opt->count() > 0); };
}

}  // namespace

QS_COMMAND(tokenize, "tokenize", "Text to token ids (printed on one line)", Setup);

}  // namespace qs::cli
