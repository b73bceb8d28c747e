#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/timer.h"

namespace qs::train {

namespace {
uint64_t Mix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string Hms(double s) {
  const int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof(buf), "%ldh%02ldm", static_cast<long>(t / 3600), static_cast<long>(t % 3600 / 60));
  else std::snprintf(buf, sizeof(buf), "%ldm%02lds", static_cast<long>(t / 60), static_cast<long>(t % 60));
  return buf;
}
}  // namespace

double LearningRate(const OptimOpts& o, int64_t step, int64_t total) {
  if (o.warmup > 0 && step < o.warmup) return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup);
  const double span = static_cast<double>(std::max<int64_t>(total - o.warmup, 1));
  const double p = std::clamp(static_cast<double>(step - o.warmup) / span, 0.0, 1.0);
  const double min_lr = o.lr * o.min_lr_ratio;
  return min_lr + 0.5 * (o.lr - min_lr) * (1.0 + std::cos(M_PI * p));
}

double AdamWStep(const OptimOpts& o, const Layout& L, int64_t step, double lr, std::vector<float>* w,
                 std::vector<float>* g, std::vector<float>* m, std::vector<float>* v, ThreadPool* pool) {
  double ss = 0;
  for (const ParamInfo& p : L.params) {
    if (!p.trainable) continue;
    const float* gp = g->data() + p.offset;
    for (int64_t i = 0; i < p.size; ++i) ss += static_cast<double>(gp[i]) * gp[i];
  }
  const double norm = std::sqrt(ss);
  const double clip = (o.clip > 0 && norm > o.clip) ? o.clip / norm : 1.0;
  const double t = static_cast<double>(step + 1);
  const double bc1 = 1.0 - std::pow(o.beta1, t), bc2 = 1.0 - std::pow(o.beta2, t);
  const float b1 = static_cast<float>(o.beta1), b2 = static_cast<float>(o.beta2);
  for (const ParamInfo& p : L.params) {
    if (!p.trainable) continue;
    const float wd = p.decay ? static_cast<float>(lr * o.weight_decay) : 0.f;
    const float step_size = static_cast<float>(lr / bc1), inv_bc2 = static_cast<float>(1.0 / bc2);
    const float eps = static_cast<float>(o.eps), cf = static_cast<float>(clip);
    float* wp = w->data() + p.offset;
    float* gp = g->data() + p.offset;
    float* mp = m->data() + p.offset;
    float* vp = v->data() + p.offset;
    Par(pool, p.size, 16, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float gi = gp[i] * cf;
        mp[i] = b1 * mp[i] + (1 - b1) * gi;
        vp[i] = b2 * vp[i] + (1 - b2) * gi * gi;
        wp[i] -= wd * wp[i];
        wp[i] -= step_size * mp[i] / (std::sqrt(vp[i] * inv_bc2) + eps);
      }
    });
  }
  return norm;
}

void SampleBatch(const std::vector<int32_t>& stream, int64_t B, int64_t S, uint64_t seed, int64_t step,
                 std::vector<int32_t>* out) {
  out->resize(static_cast<size_t>(B * S));
  const uint64_t span = static_cast<uint64_t>(std::max<int64_t>(static_cast<int64_t>(stream.size()) - S, 1));
  for (int64_t b = 0; b < B; ++b) {
    const uint64_t start = Mix(seed * 0x9E3779B97F4A7C15ull ^ Mix(static_cast<uint64_t>(step * B + b))) % span;
    for (int64_t t = 0; t < S; ++t) (*out)[b * S + t] = stream[(start + static_cast<uint64_t>(t)) % stream.size()];
  }
}

LossParts Evaluate(Net<float>& net, const std::vector<int32_t>& val, int64_t B, int64_t S, int64_t batches,
                   ThreadPool* pool) {
  LossParts sum;
  std::vector<int32_t> tok;
  const int64_t windows = std::max<int64_t>(static_cast<int64_t>(val.size()) / S, 1);
  int64_t n = 0;
  for (int64_t i = 0; i < batches && i * B < windows; ++i) {
    tok.resize(static_cast<size_t>(B * S));
    // Consecutive non-overlapping windows: every held-out token is scored at most once.
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < S; ++t)
        tok[b * S + t] = val[static_cast<size_t>(((i * B + b) % windows) * S + t) % val.size()];
    LossParts lp = net.Step(tok.data(), B, S, /*grad=*/false, pool);
    sum.main += lp.main;
    sum.mtp += lp.mtp;
    ++n;
  }
  if (n > 0) {
    sum.main /= static_cast<double>(n);
    sum.mtp /= static_cast<double>(n);
  }
  return sum;
}

Status Train(Net<float>& net, const TrainOpts& o, const std::vector<int32_t>& stream, const std::vector<int32_t>& val,
             int64_t start_step, int64_t start_tokens, std::vector<float>* m, std::vector<float>* v,
             const std::function<Status(int64_t, int64_t)>& save, ThreadPool* pool, TrainReport* rep,
             const std::function<void(const std::string&)>& log, int64_t stop_at) {
  if (static_cast<int64_t>(stream.size()) < o.seq + 1)
    return InvalidArgument("train: the corpus has " + std::to_string(stream.size()) + " tokens, fewer than one window of " +
                           std::to_string(o.seq));
  auto emit = [&](const std::string& s) {
    if (log) log(s);
    else std::fprintf(stderr, "%s\n", s.c_str());
  };
  const Layout& L = net.layout();
  std::vector<int32_t> tok;
  int64_t tokens = start_tokens;
  Timer timer;
  int64_t timed_tokens = 0;
  double loss_acc = 0;
  int64_t loss_n = 0;
  const int64_t end = stop_at > 0 ? std::min(stop_at, o.steps) : o.steps;
  for (int64_t step = start_step; step < end; ++step) {
    SampleBatch(stream, o.batch, o.seq, o.seed, step, &tok);
    std::fill(net.grads().begin(), net.grads().end(), 0.f);
    LossParts lp = net.Step(tok.data(), o.batch, o.seq, /*grad=*/true, pool);
    if (!std::isfinite(lp.total)) return Status(ErrorCode::kInternal, "train: loss is not finite at step " + std::to_string(step));
    const double lr = LearningRate(o.optim, step, o.steps);
    const double gnorm = AdamWStep(o.optim, L, step, lr, &net.weights(), &net.grads(), m, v, pool);
    net.UpdateRouterBias(o.optim.bias_gamma);
    tokens += o.batch * o.seq;
    timed_tokens += o.batch * o.seq;
    if (rep) {
      if (rep->steps_run == 0) rep->first_loss = lp.main;
      rep->last_loss = lp.main;
      ++rep->steps_run;
    }
    loss_acc += lp.main;
    ++loss_n;
    const bool last = step + 1 == end;
    if (o.log_every > 0 && ((step + 1) % o.log_every == 0 || last)) {
      const double el = timer.Seconds(), tps = static_cast<double>(timed_tokens) / std::max(el, 1e-9);
      const double eta = static_cast<double>((o.steps - step - 1) * o.batch * o.seq) / std::max(tps, 1e-9);
      char buf[320];
      std::snprintf(buf, sizeof(buf),
                    "step %ld/%ld  loss %.4f (main %.4f mtp %.4f bal %.2e)  lr %.2e  gnorm %.3f  %.0f tok/s  "
                    "elapsed %s  left %s",
                    static_cast<long>(step + 1), static_cast<long>(o.steps), loss_acc / static_cast<double>(loss_n),
                    lp.main, lp.mtp, lp.balance, lr, gnorm, tps, Hms(el).c_str(), Hms(eta).c_str());
      emit(buf);
      if (rep) rep->tokens_per_s = tps;
      loss_acc = 0;
      loss_n = 0;
    }
    if (o.eval_every > 0 && !val.empty() && ((step + 1) % o.eval_every == 0 || last)) {
      LossParts ev = Evaluate(net, val, o.batch, o.seq, o.eval_batches, pool);
      char buf[200];
      std::snprintf(buf, sizeof(buf), "eval step %ld  held-out loss main %.4f (ppl %.2f)  mtp %.4f (ppl %.2f)",
                    static_cast<long>(step + 1), ev.main, std::exp(ev.main), ev.mtp, std::exp(ev.mtp));
      emit(buf);
      if (rep) {
        rep->val_main = ev.main;
        rep->val_mtp = ev.mtp;
      }
    }
    if (save && ((o.save_every > 0 && (step + 1) % o.save_every == 0) || last)) QS_RETURN_IF_ERROR(save(step + 1, tokens));
  }
  return Status::Ok();
}

}  // namespace qs::train
