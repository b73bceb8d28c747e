// qiusuo bench: llama-bench-style throughput of prompt processing (pp) and generation (tg).
//
//  * pp<N>: one Forward of N random tokens into an empty cache. Like llama-bench, no logits for
//    the prompt positions (llama-bench asks for the last position's only; we skip lm_head).
//  * tg<N>: N Forwards of one token each from an empty cache, logits every step (llama-bench's
//    tg test also starts from an empty context).
//  * -d DEPTH (llama-bench's -d / n_depth): each test runs after DEPTH tokens already in the cache.
//    The cache is filled once per depth (random tokens, prefill in chunks, untimed, with a
//    progress line), and every run starts by truncating it back to DEPTH, so pp and tg measure
//    attention over a long context without paying for the fill each repeat.
//  * One untimed warm-up of each test first (llama-bench does the same), then -r timed repeats;
//    tokens/s mean and sample standard deviation over the repeats.
//  * Peak RSS: VmHWM of /proc/self/status after the runs (weights are mmapped: pages touched
//    count, untouched ones do not).
//  * Bandwidth (tg only): weight bytes read per generated token x tokens/s. Bytes per token =
//    stored weight bytes scaled by active/total parameters (routed experts: k of n), minus the
//    embedding table, of which one row is read (unless tied to lm_head).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/cpu.h"
#include "base/log.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "cli/bench_verify.h"
#include "cli/command.h"
#include "cli/common.h"
#include "kernels/matmul.h"
#include "runtime/model_package.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model;
  std::vector<int64_t> n_prompt{512}, n_gen{128}, n_depth{0};
  int64_t depth_prefix = 0;  // > 0: prefill this many tokens and tile them to the depth
  int threads = 0;
  int repeats = 3;
  bool json = false;
  bool gen_given = false;  // -n given on the command line
  std::vector<int64_t> verify_batch;  // non-empty: the speculative-decoding bench (bench_verify.h)
  std::string draft_model;
  int spec_tokens = 0;
  int64_t project_layers = 0;
};

uint64_t PeakRssBytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream is(line.substr(6));
      uint64_t kb = 0;
      is >> kb;
      return kb * 1024;
    }
  }
  return 0;
}

// Prompt tokens per Forward while filling the cache to a depth (bounded activations).
constexpr int64_t kDepthChunk = 512;

struct TestResult {
  int64_t n_prompt = 0, n_gen = 0, n_depth = 0;
  std::vector<double> samples_ns, samples_ts;
  double avg_ts = 0, stddev_ts = 0, avg_ns = 0, stddev_ns = 0;
};

void Summarize(TestResult* r) {
  auto stats = [](const std::vector<double>& v, double* mean, double* sd) {
    double s = 0;
    for (double x : v) s += x;
    *mean = v.empty() ? 0 : s / static_cast<double>(v.size());
    double q = 0;
    for (double x : v) q += (x - *mean) * (x - *mean);
    *sd = v.size() > 1 ? std::sqrt(q / static_cast<double>(v.size() - 1)) : 0;
  };
  stats(r->samples_ts, &r->avg_ts, &r->stddev_ts);
  stats(r->samples_ns, &r->avg_ns, &r->stddev_ns);
}

std::string HumanBytes(double b) {
  char buf[32];
  if (b >= 1024.0 * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024 * 1024));
  else std::snprintf(buf, sizeof buf, "%.2f MiB", b / (1024.0 * 1024));
  return buf;
}

int Run(const Opts& o) {
  if (!o.verify_batch.empty()) {
    VerifyBenchOpts v;
    v.model = o.model;
    v.draft_model = o.draft_model;
    v.batches = o.verify_batch;
    v.depth = o.n_depth.empty() ? 0 : o.n_depth[0];
    v.depth_prefix = o.depth_prefix;
    v.project_layers = o.project_layers;
    v.n_gen = o.gen_given ? o.n_gen[0] : 0;
    v.spec_tokens = o.spec_tokens;
    v.threads = o.threads;
    v.repeats = o.repeats;
    v.json = o.json;
    return RunVerifyBench(v);
  }
  if (o.repeats < 1) return Fail(InvalidArgument("-r must be at least 1"));
  if (o.n_depth.empty()) return Fail(InvalidArgument("-d needs at least one depth"));
  for (int64_t d : o.n_depth)
    if (d < 0) return Fail(InvalidArgument("-d must not be negative"));
  ThreadPool pool(Threads(o.threads));
  // Load time includes the one-time repacking (Model::Prepare), as llama-bench's includes its.
  Timer load_timer;
  auto pkg = OpenModelPackage(o.model, ModelPackageOptions::ModelOnly());
  if (!pkg.ok()) return Fail(pkg.status());
  Model* model = pkg->model.get();
  if (Status s = model->Prepare(&pool); !s.ok()) return Fail(s);
  const double load_s = load_timer.Seconds();
  const ModelConfig& cfg = model->config();
  const ModelInfo info = model->Info();
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(cfg.vocab_size - 1));
  std::vector<float> logits(static_cast<size_t>(cfg.vocab_size));

  // Bytes of weights read per generated token (see the header comment).
  double active = info.n_params ? static_cast<double>(info.weight_bytes) * info.n_params_active / info.n_params : 0;
  const double embed_params = static_cast<double>(cfg.vocab_size) * cfg.hidden_size;
  if (!cfg.tie_word_embeddings && info.n_params)
    active -= static_cast<double>(info.weight_bytes) * embed_params / info.n_params;
  if (active < 0) active = 0;

  std::vector<TestResult> results;
  int64_t max_np = 0, max_ng = 0;
  for (int64_t np : o.n_prompt) max_np = std::max(max_np, np);
  for (int64_t ng : o.n_gen) max_ng = std::max(max_ng, ng);
  std::unique_ptr<KvCache> cache;
  // Fills a fresh cache with `depth` random tokens (untimed), room for the largest test after.
  auto fill = [&](int64_t depth) -> Status {
    cache = model->NewCache(depth + std::max<int64_t>(1, max_np + max_ng));
    if (depth == 0) return Status::Ok();
    const int64_t real = o.depth_prefix > 0 ? std::min(o.depth_prefix, depth) : depth;
    Progress progress("depth " + std::to_string(depth), static_cast<uint64_t>(real));
    std::vector<int32_t> toks;
    for (int64_t done = 0; done < real;) {
      const int64_t n = std::min(kDepthChunk, real - done);
      toks.resize(static_cast<size_t>(n));
      for (auto& t : toks) t = tok(rng);
      QS_RETURN_IF_ERROR(model->Forward(toks.data(), n, cache.get(), nullptr, &pool));
      done += n;
      progress.Update(static_cast<uint64_t>(done));
    }
    progress.Finish();
    if (real < depth) return cache->TileTo(depth);
    return Status::Ok();
  };
  auto run_test = [&](int64_t np, int64_t ng, int64_t depth) -> Status {
    TestResult r;
    r.n_prompt = np;
    r.n_gen = ng;
    r.n_depth = depth;
    for (int rep = -1; rep < o.repeats; ++rep) {  // rep -1: warm-up
      cache->Truncate(depth);
      std::vector<int32_t> toks(static_cast<size_t>(np > 0 ? np : 1));
      for (auto& t : toks) t = tok(rng);
      Timer t;
      if (np > 0) QS_RETURN_IF_ERROR(model->Forward(toks.data(), np, cache.get(), nullptr, &pool));
      for (int64_t i = 0; i < ng; ++i) {
        const int32_t id = tok(rng);
        QS_RETURN_IF_ERROR(model->Forward(&id, 1, cache.get(), logits.data(), &pool));
      }
      const double s = t.Seconds();
      if (rep < 0) continue;
      r.samples_ns.push_back(s * 1e9);
      r.samples_ts.push_back(static_cast<double>(np + ng) / s);
    }
    Summarize(&r);
    results.push_back(r);
    return Status::Ok();
  };
  for (int64_t depth : o.n_depth) {
    Status st = fill(depth);
    for (int64_t np : o.n_prompt)
      if (st.ok() && np > 0) st = run_test(np, 0, depth);
    for (int64_t ng : o.n_gen)
      if (st.ok() && ng > 0) st = run_test(0, ng, depth);
    if (!st.ok()) return Fail(st);
  }
  const uint64_t rss = PeakRssBytes();

  std::string file = o.model;
  if (auto p = file.find_last_of('/'); p != std::string::npos && p + 1 < file.size()) file = file.substr(p + 1);
  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : results) {
      nlohmann::json j;
      j["model_filename"] = o.model;
      j["model_type"] = info.architecture;
      j["model_size"] = info.weight_bytes;
      j["model_n_params"] = info.n_params;
      j["n_threads"] = pool.size();
      j["cpu_info"] = IsaDescription();
      j["backends"] = std::string("CPU ") + KernelName();
      j["n_prompt"] = r.n_prompt;
      j["n_gen"] = r.n_gen;
      j["n_depth"] = r.n_depth;
      j["avg_ns"] = static_cast<uint64_t>(r.avg_ns);
      j["stddev_ns"] = static_cast<uint64_t>(r.stddev_ns);
      j["avg_ts"] = r.avg_ts;
      j["stddev_ts"] = r.stddev_ts;
      j["samples_ns"] = r.samples_ns;
      j["samples_ts"] = r.samples_ts;
      j["peak_rss_bytes"] = rss;
      j["load_seconds"] = load_s;
      if (r.n_gen > 0) j["bandwidth_bytes_per_s"] = active * r.avg_ts;
      arr.push_back(j);
    }
    std::printf("%s\n", arr.dump(2).c_str());
    return 0;
  }
  // The test column widens for "pp512 @ d16384" when a depth is given.
  const int tw = *std::max_element(o.n_depth.begin(), o.n_depth.end()) > 0 ? 16 : 8;
  std::printf("| %-28s | %10s | %8s | %-18s | %7s | %*s | %16s | %10s |\n", "model", "size", "params", "backend",
              "threads", tw, "test", "t/s", "GB/s");
  std::printf("| %s | %s | %s | %s | %s | %s | %s | %s |\n", std::string(28, '-').c_str(), std::string(10, '-').c_str(),
              std::string(8, '-').c_str(), std::string(18, '-').c_str(), std::string(7, '-').c_str(),
              std::string(static_cast<size_t>(tw), '-').c_str(), std::string(16, '-').c_str(), std::string(10, '-').c_str());
  for (const auto& r : results) {
    char test[32], ts[48], bw[24], params[24];
    if (r.n_prompt > 0) std::snprintf(test, sizeof test, "pp%lld", static_cast<long long>(r.n_prompt));
    else std::snprintf(test, sizeof test, "tg%lld", static_cast<long long>(r.n_gen));
    if (r.n_depth > 0)  // llama-bench's notation
      std::snprintf(test + std::strlen(test), sizeof test - std::strlen(test), " @ d%lld", static_cast<long long>(r.n_depth));
    std::snprintf(ts, sizeof ts, "%.2f ± %.2f", r.avg_ts, r.stddev_ts);
    if (r.n_gen > 0) std::snprintf(bw, sizeof bw, "%.2f", active * r.avg_ts / 1e9);
    else std::snprintf(bw, sizeof bw, "-");
    std::snprintf(params, sizeof params, "%.2f B", static_cast<double>(info.n_params) / 1e9);
    std::printf("| %-28.28s | %10s | %8s | %-18s | %7d | %*s | %16s | %10s |\n", file.c_str(),
                HumanBytes(static_cast<double>(info.weight_bytes)).c_str(), params,
                (std::string("CPU ") + KernelName()).c_str(), pool.size(), tw, test, ts, bw);
  }
  std::printf("\npeak RSS %s, load %.2f s, weights read per generated token %s, kernels %s\n",
              HumanBytes(static_cast<double>(rss)).c_str(), load_s, HumanBytes(active).c_str(), IsaDescription().c_str());
  return 0;
}

}  // namespace

QS_COMMAND(bench, "bench", "prompt-processing and generation throughput (llama-bench style)", [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model,-m", o->model, "model directory (or GGUF file once the loader accepts it)")->required();
  app->add_option("-p,--n-prompt", o->n_prompt, "prompt lengths to test (0 skips pp)")->delimiter(',');
  app->add_option("-n,--n-gen", o->n_gen, "generation lengths to test (0 skips tg)")->delimiter(',')
      ->each([o](const std::string&) { o->gen_given = true; });
  app->add_option("-d,--n-depth", o->n_depth, "tokens already in the cache before each test (filled untimed)")
      ->delimiter(',');
  app->add_option("--depth-prefix", o->depth_prefix,
                  "prefill only this many tokens of each depth and repeat their cache rows up to it: the same "
                  "cache size and attention reads, without hours of prefill on a small machine (0: prefill all)");
  app->add_option("-t,--threads", o->threads, "threads (default: QIUSUO_THREADS or all cores)");
  app->add_option("-r,--repetitions", o->repeats, "timed repeats per test")->check(CLI::Range(1, 1000));
  app->add_flag("--json", o->json, "print a JSON array with llama-bench's field names");
  app->add_option("--verify-batch", o->verify_batch,
                  "speculative decoding: time a forward over these row counts at depth -d (first value), project "
                  "the speed-up for k = rows - 1 drafts; with -n, also generate that many tokens plain and speculative")
      ->delimiter(',');
  app->add_option("--draft-model", o->draft_model, "with --verify-batch: draft with this model instead of the MTP module");
  app->add_option("--project-layers", o->project_layers,
                  "with --verify-batch: also project the timings to this many layers (a few-layer synth model "
                  "standing for the full one)")->check(CLI::Range(0, 1000));
  app->add_option("--spec-tokens", o->spec_tokens, "with --verify-batch -n: drafts per step (default: largest rows - 1)")
      ->check(CLI::Range(0, 8));
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
