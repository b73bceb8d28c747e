// qiusuo generate: greedy continuation of a token-id prompt (text comes with the tokenizer).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/thread_pool.h"
#include "base/timer.h"
#include "cli/command.h"
#include "cli/common.h"
#include "runtime/model_package.h"
#include "runtime/generator.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, tokens;
  int64_t n = 16;
  int threads = 0;
  bool ignore_eos = false;
};

int Run(const Opts& o) {
  auto ids = ParseIdList(o.tokens);
  if (!ids.ok()) return Fail(ids.status());
  if (ids->empty()) return Fail(InvalidArgument("--tokens is empty"));
  auto pkg = OpenModelPackage(o.model, ModelPackageOptions::ModelOnly());
  if (!pkg.ok()) return Fail(pkg.status());
  ThreadPool pool(Threads(o.threads));
  Generator gen(pkg->model.get(), &pool, static_cast<int64_t>(ids->size()) + o.n);
  Timer t_prompt;
  Status st = gen.Feed(*ids);
  if (!st.ok()) return Fail(st);
  double prompt_s = t_prompt.Seconds();
  Timer t_gen;
  bool first = true;
  auto out = gen.GreedyContinue(o.n, o.ignore_eos, [&](int32_t tok) {
    std::printf(first ? "%d" : " %d", tok);
    std::fflush(stdout);
    first = false;
  });
  std::printf("\n");
  if (!out.ok()) return Fail(out.status());
  double gen_s = t_gen.Seconds();
  std::fprintf(stderr, "prompt: %zu tokens, %.2f tok/s | generated: %zu tokens, %.2f tok/s\n", ids->size(),
               static_cast<double>(ids->size()) / prompt_s, out->size(),
               out->size() > 1 ? static_cast<double>(out->size() - 1) / gen_s : 0.0);
  return 0;
}

}  // namespace

QS_COMMAND(generate, "generate", "greedy generation from token ids", [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model", o->model, "model directory (config.json + safetensors) or .gguf file")->required();
  app->add_option("--tokens", o->tokens, "prompt token ids, comma-separated")->required();
  app->add_option("-n,--n-predict", o->n, "tokens to generate")->check(CLI::Range(0, 1 << 20));
  app->add_option("--threads,-t", o->threads, "threads (default: all cores)");
  app->add_flag("--ignore-eos", o->ignore_eos, "keep going after the end-of-sequence token");
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
