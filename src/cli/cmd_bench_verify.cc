// qiusuo bench --verify-batch 1,2,3,4: the cost side of speculative decoding (runtime/speculative.h).
//
//  * The main model's forward over b = 1, 2, 3, 4 ... rows at the same context (-d tokens in the
//    cache; logits for every row, as verification needs), median of -r repeats after a warm-up,
//    the row counts interleaved.
//    Verification of k drafts is the (k+1)-row forward.
//  * The drafter's cost per draft: one MTP row (the module's cache tiled to the same depth), or one
//    token of --draft-model at the same depth; none when the model has neither (an ideal drafter).
//  * The projected generation speed-up for k = b - 1 drafts and per-draft acceptance a (drafts
//    accepted independently with probability a, the usual model of Leviathan et al. 2023 §3.1):
//      tokens per step  E = 1 + a + ... + a^k
//      speed-up         E * t(1) / (t(k+1) + k * t_draft)
//    Real acceptance falls along a chain of one MTP module, so k > 1 figures are optimistic.
//  * --project-layers N: the figures for the same model with N layers (a synth model with V3's
//    dimensions but 1-4 layers fits a small machine): each forward is also timed without the head
//    (no logits), the body split evenly over the model's layers, and
//      t_N(b) = head(b) + N * body(b) / layers
//    (every layer costs as much as the model's own layers: with a MoE layer timed, V3's three dense
//    layers count as MoE, which slightly overstates verification cost). Without an MTP module or a
//    draft model, a draft is estimated as one layer + the head (what the MTP module runs).
//  * With -n N: N tokens generated greedily through the scheduler, plain and with k drafts per
//    step (prompt of 32 random tokens), measured tokens/s and the drafts accepted. With random
//    weights acceptance is meaningless (near 0 for MTP): this checks the machinery end to end.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "base/log.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "cli/bench_verify.h"
#include "cli/common.h"
#include "runtime/model_package.h"
#include "runtime/scheduler.h"
#include "runtime/speculative.h"

namespace qs::cli {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Fills `cache` with `depth` random tokens (or depth_prefix of them, tiled).
Status Fill(Model* m, KvCache* cache, int64_t depth, int64_t depth_prefix, std::mt19937* rng, ThreadPool* pool) {
  if (depth == 0) return Status::Ok();
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(m->config().vocab_size - 1));
  const int64_t real = depth_prefix > 0 ? std::min(depth_prefix, depth) : depth;
  std::vector<int32_t> toks;
  for (int64_t done = 0; done < real;) {
    const int64_t n = std::min<int64_t>(512, real - done);
    toks.resize(static_cast<size_t>(n));
    for (auto& t : toks) t = tok(*rng);
    QS_RETURN_IF_ERROR(m->Forward(toks.data(), n, cache, nullptr, pool));
    done += n;
  }
  return real < depth ? cache->TileTo(depth) : Status::Ok();
}

// Seconds of `run` (median of `repeats` after one warm-up).
template <typename F>
Result<double> Time(int repeats, F run) {
  std::vector<double> s;
  for (int rep = -1; rep < repeats; ++rep) {
    Timer t;
    QS_RETURN_IF_ERROR(run());
    if (rep >= 0) s.push_back(t.Seconds());
  }
  return Median(s);
}

struct GenResult {
  double tokens_per_s = 0;
  uint64_t tokens = 0, drafted = 0, accepted = 0;
};

// Greedy generation of n tokens through the scheduler; tokens/s from the first token to the last.
Result<GenResult> Generate(Model* m, Drafter* drafter, int k, int64_t n, ThreadPool* pool, std::mt19937* rng) {
  SchedulerOptions so;
  so.ctx = 64 + n + kMaxSpecTokens;
  so.spec_tokens = drafter ? k : 0;
  so.cache_bytes = 0;
  Scheduler s(m, so, pool, drafter);
  std::uniform_int_distribution<int32_t> tok(2, static_cast<int32_t>(m->config().vocab_size - 1));
  GenRequest r;
  for (int i = 0; i < 32; ++i) r.prompt.push_back(tok(*rng));
  r.sampling.temperature = 0;
  r.max_tokens = n;
  Scheduler::SubmitError e;
  auto h = s.Submit(std::move(r), &e);
  if (!h) return InvalidArgument("bench: the generation request was refused");
  GenResult g;
  Timer t;
  double first = -1;
  for (;;) {
    GenEvent ev;
    if (!h->Next(&ev, std::chrono::milliseconds(1000))) continue;
    if (ev.kind == GenEvent::kToken && g.tokens++ == 0) first = t.Seconds();
    if (ev.kind == GenEvent::kDone) {
      if (!ev.error.ok()) return ev.error;
      const double s_gen = t.Seconds() - first;
      g.tokens_per_s = g.tokens > 1 && s_gen > 0 ? static_cast<double>(g.tokens - 1) / s_gen : 0;
      g.drafted = ev.drafted;
      g.accepted = ev.accepted;
      return g;
    }
  }
}

}  // namespace

int RunVerifyBench(const VerifyBenchOpts& o) {
  if (o.batches.empty()) return Fail(InvalidArgument("--verify-batch needs at least one row count"));
  for (int64_t b : o.batches)
    if (b < 1 || b > kMaxSpecTokens + 1)
      return Fail(InvalidArgument("--verify-batch: row counts go from 1 to " + std::to_string(kMaxSpecTokens + 1)));
  if (o.depth < 0) return Fail(InvalidArgument("-d must not be negative"));
  if (o.repeats < 1) return Fail(InvalidArgument("-r must be at least 1"));
  ThreadPool pool(Threads(o.threads));
  auto pkg = OpenModelPackage(o.model, ModelPackageOptions::ModelOnly());
  if (!pkg.ok()) return Fail(pkg.status());
  Model* model = pkg->model.get();
  if (Status st = model->Prepare(&pool); !st.ok()) return Fail(st);
  std::unique_ptr<Model> draft;
  std::unique_ptr<Drafter> drafter;
  if (!o.draft_model.empty()) {
    auto d = OpenModelPackage(o.draft_model, ModelPackageOptions::ModelOnly());
    if (!d.ok()) return Fail(d.status());
    draft = std::move(d->model);
    if (Status st = draft->Prepare(&pool); !st.ok()) return Fail(st);
    auto dr = Drafter::DraftModel(model, draft.get());
    if (!dr.ok()) return Fail(dr.status());
    drafter = std::move(*dr);
  } else if (model->mtp_modules() > 0) {
    auto dr = Drafter::Mtp(model);
    if (!dr.ok()) return Fail(dr.status());
    drafter = std::move(*dr);
  }
  const ModelConfig& c = model->config();
  const int64_t max_b = *std::max_element(o.batches.begin(), o.batches.end());
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(c.vocab_size - 1));
  auto cache = model->NewCache(o.depth + max_b + 1);
  if (Status st = Fill(model, cache.get(), o.depth, o.depth_prefix, &rng, &pool); !st.ok()) return Fail(st);
  std::vector<float> logits(static_cast<size_t>(max_b * c.vocab_size));
  std::vector<int32_t> toks(static_cast<size_t>(max_b));
  std::vector<std::pair<int64_t, double>> rows;  // (b, seconds), projected to project_layers when asked
  std::vector<double> measured, heads, layer;
  // Repeats interleave the row counts (1, 2, 3, 4, 1, 2, ...), so that a machine whose load
  // changes over the run slows every row count alike; medians per row count.
  const size_t nb = o.batches.size();
  std::vector<std::vector<double>> full(nb), body(nb);
  for (int rep = -1; rep < o.repeats; ++rep)
    for (size_t i = 0; i < nb; ++i)
      for (int pass = 0; pass < (o.project_layers > 0 ? 2 : 1); ++pass) {
        cache->Truncate(o.depth);
        for (auto& x : toks) x = tok(rng);
        Timer t;
        Status st = model->Forward(toks.data(), o.batches[i], cache.get(), pass == 0 ? logits.data() : nullptr, &pool);
        if (!st.ok()) return Fail(st);
        if (rep >= 0) (pass == 0 ? full : body)[i].push_back(t.Seconds());
      }
  for (size_t i = 0; i < nb; ++i) {
    const double t = Median(full[i]);
    double head = 0, per_layer = t / static_cast<double>(c.num_hidden_layers);
    if (o.project_layers > 0) {
      const double bt = Median(body[i]);
      head = std::max(0.0, t - bt);
      per_layer = bt / static_cast<double>(c.num_hidden_layers);
    }
    measured.push_back(t);
    heads.push_back(head);
    layer.push_back(per_layer);
    rows.emplace_back(o.batches[i], o.project_layers > 0 ? head + static_cast<double>(o.project_layers) * per_layer : t);
  }
  // The drafter's cost of one draft at the same depth.
  double t_draft = 0;
  std::string drafter_name = "none (ideal drafter)";
  for (size_t i = 0; i < rows.size(); ++i)
    if (rows[i].first == 1) {
      t_draft = layer[i] + heads[i];
      drafter_name = o.project_layers > 0 ? "estimated as one layer + head" : "none (ideal drafter)";
      if (o.project_layers <= 0) t_draft = 0;
    }
  if (draft) {
    drafter_name = "draft model " + o.draft_model;
    auto dc = draft->NewCache(o.depth + 2);
    if (Status st = Fill(draft.get(), dc.get(), o.depth, o.depth_prefix, &rng, &pool); !st.ok()) return Fail(st);
    std::vector<float> dl(static_cast<size_t>(draft->config().vocab_size));
    auto t = Time(o.repeats, [&]() -> Status {
      dc->Truncate(o.depth);
      const int32_t x = tok(rng) % static_cast<int32_t>(draft->config().vocab_size);
      return draft->Forward(&x, 1, dc.get(), dl.data(), &pool);
    });
    if (!t.ok()) return Fail(t.status());
    t_draft = *t;
  } else if (model->mtp_modules() > 0) {
    drafter_name = "MTP module";
    auto mc = model->NewMtpCache(o.depth + 2);
    const int64_t D = c.hidden_size;
    std::normal_distribution<float> nd;
    const int64_t real = std::min<int64_t>(o.depth, 64);
    std::vector<float> h(static_cast<size_t>(std::max<int64_t>(real, 1) * D));
    for (auto& x : h) x = nd(rng);
    std::vector<int32_t> nt(static_cast<size_t>(std::max<int64_t>(real, 1)));
    for (auto& x : nt) x = tok(rng);
    if (real > 0) {
      Status st = model->ForwardMtp(h.data(), nt.data(), real, mc.get(), nullptr, &pool);
      if (st.ok() && real < o.depth) st = mc->TileTo(o.depth);
      if (!st.ok()) return Fail(st);
    }
    auto t = Time(o.repeats, [&]() -> Status {
      mc->Truncate(o.depth);
      return model->ForwardMtp(h.data(), nt.data(), 1, mc.get(), logits.data(), &pool);
    });
    if (!t.ok()) return Fail(t.status());
    t_draft = *t;
  }
  double t1 = 0;
  for (auto& [b, s] : rows)
    if (b == 1) t1 = s;
  const double accept[] = {0.6, 0.8, 0.85, 0.9};
  nlohmann::json j;
  j["model"] = o.model;
  j["depth"] = o.depth;
  j["threads"] = pool.size();
  j["drafter"] = drafter_name;
  j["draft_seconds"] = t_draft;
  j["project_layers"] = o.project_layers;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string b = std::to_string(rows[i].first);
    j["forward_seconds"][b] = rows[i].second;
    j["measured_seconds"][b] = measured[i];
    if (o.project_layers > 0) j["head_seconds"][b] = heads[i], j["layer_seconds"][b] = layer[i];
  }
  if (!o.json) {
    std::printf("model %s (%lld layers), depth %lld, %d threads; drafter: %s (%.2f ms per draft)\n", o.model.c_str(),
                static_cast<long long>(c.num_hidden_layers), static_cast<long long>(o.depth), pool.size(),
                drafter_name.c_str(), t_draft * 1e3);
    if (o.project_layers > 0)
      std::printf("projected to %lld layers: head + %lld x (body / %lld)\n", static_cast<long long>(o.project_layers),
                  static_cast<long long>(o.project_layers), static_cast<long long>(c.num_hidden_layers));
    std::printf("\n| rows | ms / forward (measured) | ms head | ms / layer | ms / forward%s | vs 1 row |\n"
                "|---|---|---|---|---|---|\n", o.project_layers > 0 ? " (projected)" : "");
    for (size_t i = 0; i < rows.size(); ++i)
      std::printf("| %lld | %.2f | %.2f | %.2f | %.2f | %.2fx |\n", static_cast<long long>(rows[i].first),
                  measured[i] * 1e3, heads[i] * 1e3, layer[i] * 1e3, rows[i].second * 1e3,
                  t1 > 0 ? rows[i].second / t1 : 0.0);
  }
  if (t1 > 0) {
    if (!o.json)
      std::printf("\nprojected generation speed-up (k drafts, acceptance a per draft):\n\n"
                  "| k | step ms (verify + drafts) | a=60%% | a=80%% | a=85%% | a=90%% |\n|---|---|---|---|---|---|\n");
    for (auto& [b, s] : rows) {
      if (b < 2) continue;
      const int k = static_cast<int>(b - 1);
      const double step = s + k * t_draft;
      nlohmann::json pj;
      pj["k"] = k;
      pj["step_seconds"] = step;
      if (!o.json) std::printf("| %d | %.2f |", k, step * 1e3);
      for (double a : accept) {
        const double sp = ExpectedTokensPerStep(a, k) * t1 / step;
        pj["speedup"][std::to_string(static_cast<int>(a * 100))] = sp;
        if (!o.json) std::printf(" %.2fx |", sp);
      }
      if (!o.json) std::printf("\n");
      j["projection"].push_back(pj);
    }
  }
  if (o.n_gen > 0) {
    const int k = o.spec_tokens > 0 ? o.spec_tokens : static_cast<int>(std::max<int64_t>(1, max_b - 1));
    std::mt19937 r1(99), r2(99);  // the same prompt for both runs
    auto plain = Generate(model, nullptr, 0, o.n_gen, &pool, &r1);
    if (!plain.ok()) return Fail(plain.status());
    j["generation"]["plain_tokens_per_s"] = plain->tokens_per_s;
    if (!o.json) std::printf("\ngeneration, %lld tokens greedy: plain %.2f t/s", static_cast<long long>(o.n_gen), plain->tokens_per_s);
    if (drafter) {
      auto spec = Generate(model, drafter.get(), k, o.n_gen, &pool, &r2);
      if (!spec.ok()) return Fail(spec.status());
      j["generation"]["spec_tokens"] = k;
      j["generation"]["spec_tokens_per_s"] = spec->tokens_per_s;
      j["generation"]["drafted"] = spec->drafted;
      j["generation"]["accepted"] = spec->accepted;
      if (!o.json)
        std::printf("; speculative k=%d %.2f t/s (%.2fx), drafts %llu/%llu accepted (%.0f%%)", k, spec->tokens_per_s,
                    plain->tokens_per_s > 0 ? spec->tokens_per_s / plain->tokens_per_s : 0.0,
                    static_cast<unsigned long long>(spec->accepted), static_cast<unsigned long long>(spec->drafted),
                    spec->drafted ? 100.0 * static_cast<double>(spec->accepted) / static_cast<double>(spec->drafted) : 0.0);
    }
    if (!o.json) std::printf("\n");
  }
  if (o.json) std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

}  // namespace qs::cli
