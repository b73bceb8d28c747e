// qiusuo generate: greedy continuation of a token-id prompt (text comes with the tokenizer).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "base/thread_pool.h"
#include "base/timer.h"
#include "cli/command.h"
#include "cli/common.h"
#include "runtime/model_package.h"
#include "runtime/generator.h"
#include "runtime/scheduler.h"
#include "runtime/speculative.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, tokens;
  int64_t n = 16;
  int threads = 0;
  bool ignore_eos = false;
  int spec_tokens = 0;
  std::string draft_model;
};

// --spec-tokens: the same greedy continuation through the scheduler's speculative decoding (the
// path `run` and `serve` take), so its tokens can be compared with the plain ones.
int RunSpeculative(const Opts& o, const std::vector<int32_t>& ids, Model* model, ThreadPool* pool) {
  if (o.n == 0) return std::printf("\n"), 0;
  std::unique_ptr<Model> draft;
  Result<std::unique_ptr<Drafter>> drafter = Drafter::Mtp(model);
  if (!o.draft_model.empty()) {
    auto d = OpenModelPackage(o.draft_model, ModelPackageOptions::ModelOnly());
    if (!d.ok()) return Fail(d.status());
    draft = std::move(d->model);
    drafter = Drafter::DraftModel(model, draft.get());
  }
  if (!drafter.ok()) return Fail(drafter.status());
  if (Status st = model->Prepare(pool); !st.ok()) return Fail(st);
  if (draft)
    if (Status st = draft->Prepare(pool); !st.ok()) return Fail(st);
  SchedulerOptions so;
  so.ctx = static_cast<int64_t>(ids.size()) + o.n + kMaxSpecTokens + 1;
  so.spec_tokens = o.spec_tokens;
  so.cache_bytes = 0;
  Scheduler sched(model, so, pool, drafter->get());
  GenRequest r;
  r.prompt = ids;
  r.sampling.temperature = 0;
  r.max_tokens = o.n;
  if (!o.ignore_eos) r.stop_ids = {static_cast<int32_t>(model->config().eos_token_id)};
  Scheduler::SubmitError e;
  auto h = sched.Submit(std::move(r), &e);
  if (!h) return Fail(InvalidArgument("the prompt does not fit the context"));
  Timer t;
  double first_s = 0;
  int64_t n = 0;
  for (;;) {
    GenEvent ev;
    if (!h->Next(&ev, std::chrono::milliseconds(1000))) continue;
    if (ev.kind == GenEvent::kToken) {
      if (n == 0) first_s = t.Seconds();
      std::printf(n++ ? " %d" : "%d", ev.token);
      std::fflush(stdout);
    }
    if (ev.kind != GenEvent::kDone) continue;
    if (ev.stop_token) std::printf(n++ ? " %d" : "%d", static_cast<int>(model->config().eos_token_id));
    std::printf("\n");
    if (!ev.error.ok()) return Fail(ev.error);
    const double gen_s = t.Seconds() - first_s;
    std::fprintf(stderr, "prompt: %zu tokens, %.2f tok/s | generated: %lld tokens, %.2f tok/s | drafts %llu/%llu accepted\n",
                 ids.size(), first_s > 0 ? static_cast<double>(ids.size()) / first_s : 0.0, static_cast<long long>(n),
                 n > 1 && gen_s > 0 ? static_cast<double>(n - 1) / gen_s : 0.0,
                 static_cast<unsigned long long>(ev.accepted), static_cast<unsigned long long>(ev.drafted));
    return 0;
  }
}

int Run(const Opts& o) {
  auto ids = ParseIdList(o.tokens);
  if (!ids.ok()) return Fail(ids.status());
  if (ids->empty()) return Fail(InvalidArgument("--tokens is empty"));
  auto pkg = OpenModelPackage(o.model, ModelPackageOptions::ModelOnly());
  if (!pkg.ok()) return Fail(pkg.status());
  ThreadPool pool(Threads(o.threads));
  if (o.spec_tokens > 0) return RunSpeculative(o, *ids, pkg->model.get(), &pool);
  if (!o.draft_model.empty()) return Fail(InvalidArgument("--draft-model needs --spec-tokens"));
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
  app->add_option("--spec-tokens", o->spec_tokens,
                  "speculative decoding: drafts per step from the MTP module or --draft-model (0: off)")
      ->check(CLI::Range(0, 8));
  app->add_option("--draft-model", o->draft_model, "draft model (same vocabulary) for --spec-tokens, instead of MTP");
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
