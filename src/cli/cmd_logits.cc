// qiusuo logits: the engine's conformance interface. Writes little-endian float32 logits
// [T, vocab] for every position: one prefill, token-by-token decode (--decode), or a split
// schedule (--prefill N: prefill the first N tokens, then decode the rest one at a time).
#include <CLI/CLI.hpp>
#include <fstream>

#include "base/thread_pool.h"
#include "cli/command.h"
#include "cli/common.h"
#include "runtime/model_package.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, tokens, out;
  bool decode = false;
  int64_t prefill = -1;
  int threads = 0;
};

int Run(const Opts& o) {
  auto ids = ParseIdList(o.tokens);
  if (!ids.ok()) return Fail(ids.status());
  if (ids->empty()) return Fail(InvalidArgument("--tokens is empty"));
  auto pkg = OpenModelPackage(o.model, ModelPackageOptions::ModelOnly());
  if (!pkg.ok()) return Fail(pkg.status());
  Model& m = *pkg->model;
  ThreadPool pool(Threads(o.threads));
  const int64_t T = static_cast<int64_t>(ids->size()), V = m.config().vocab_size;
  auto cache = m.NewCache(T);
  std::vector<float> logits(static_cast<size_t>(T * V));
  int64_t first = o.decode ? 0 : (o.prefill >= 0 ? std::min(o.prefill, T) : T);
  if (first > 0) {
    Status st = m.Forward(ids->data(), first, cache.get(), logits.data(), &pool);
    if (!st.ok()) return Fail(st);
  }
  for (int64_t t = first; t < T; ++t) {
    Status st = m.Forward(ids->data() + t, 1, cache.get(), &logits[t * V], &pool);
    if (!st.ok()) return Fail(st);
  }
  std::ofstream out(o.out, std::ios::binary);
  out.write(reinterpret_cast<const char*>(logits.data()), static_cast<std::streamsize>(logits.size() * 4));
  if (!out) return Fail(IoError(o.out + ": write failed"));
  return 0;
}

}  // namespace

QS_COMMAND(logits, "logits", "write float32 logits [T, vocab] for every position", [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model", o->model, "model directory (config.json + safetensors) or .gguf file")->required();
  app->add_option("--tokens", o->tokens, "comma-separated token ids")->required();
  app->add_option("--out", o->out, "output file (float32 LE)")->required();
  app->add_flag("--decode", o->decode, "feed tokens one at a time through the KV cache");
  app->add_option("--prefill", o->prefill, "prefill the first N tokens, decode the rest");
  app->add_option("--threads,-t", o->threads, "threads (default: all cores)");
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
