// qiusuo train-tokenizer: byte-level BPE on a JSONL corpus, written as tokenizer.json +
// tokenizer_config.json (DeepSeek-V3's pre-tokenizer and special tokens, a DeepSeek-style chat
// template), loadable by the project's tokenizer and by Hugging Face.
#include <CLI/CLI.hpp>

#include "base/timer.h"
#include "cli/command.h"
#include "cli/common.h"
#include "tokenizer/tokenizer.h"
#include "train/bpe_train.h"
#include "train/corpus.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string data, out;
  train::BpeOptions bpe;
  int64_t max_texts = 0;
};

int Run(const Opts& o) {
  auto texts = train::ReadJsonlTexts(o.data);
  if (!texts.ok()) return Fail(texts.status());
  if (o.max_texts > 0 && static_cast<int64_t>(texts->size()) > o.max_texts) texts->resize(static_cast<size_t>(o.max_texts));
  Timer timer;
  auto r = train::TrainBpe(*texts, o.bpe);
  if (!r.ok()) return Fail(r.status());
  Status st = train::WriteTokenizer(*r, o.out);
  if (!st.ok()) return Fail(st);
  auto tok = Tokenizer::Load(o.out);  // what we wrote must load
  if (!tok.ok()) return Fail(tok.status());
  std::printf("tokenizer: %zu tokens (%zu merges) from %zu texts in %.1f s -> %s\n", (*tok)->vocab_size(),
              r->merges.size(), texts->size(), timer.Seconds(), o.out.c_str());
  return 0;
}

}  // namespace

QS_COMMAND(train_tokenizer, "train-tokenizer", "train a byte-level BPE tokenizer on a JSONL corpus",
           [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--data", o->data, "JSONL corpus, one {\"text\": ...} per line")->required();
  app->add_option("--out", o->out, "output directory (tokenizer.json, tokenizer_config.json)")->required();
  app->add_option("--vocab-size", o->bpe.vocab_size, "vocabulary size, special tokens included");
  app->add_option("--min-frequency", o->bpe.min_frequency, "fewest occurrences for a merge");
  app->add_option("--max-texts", o->max_texts, "use only the first N texts (0: all)");
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
