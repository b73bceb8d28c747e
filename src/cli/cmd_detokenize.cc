// qiusuo detokenize: token ids -> text (the conformance interface). Prints the decoded bytes
// exactly, with no newline added, so `tokenize` then `detokenize` gives the input back.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "cli/common.h"
#include "tokenizer/tokenizer.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, ids;
};

int Run(const Opts& o) {
  auto ids = ParseIdList(o.ids);
  if (!ids.ok()) return Fail(ids.status());
  auto tok = Tokenizer::Load(o.model);
  if (!tok.ok()) return Fail(tok.status());
  for (int32_t id : *ids)
    if (static_cast<size_t>(id) >= (*tok)->vocab_size())
      return Fail(OutOfRange("--ids: token id " + std::to_string(id) + " is outside the vocabulary (size " +
                             std::to_string((*tok)->vocab_size()) + ")"));
  const std::string text = (*tok)->Decode(*ids);
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace

QS_COMMAND(detokenize, "detokenize", "Token ids to text", [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model", o->model, "model directory, tokenizer.json or .gguf")->required();
  app->add_option("--ids", o->ids, "token ids, e.g. 1,2,3")->required();
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
