#include "runtime/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

namespace qs {

Sampler::Sampler(const SamplingParams& p) : p_(p) {
  rng_.seed(p.has_seed ? p.seed : std::random_device{}());
}

void Sampler::ApplyPenalties(float* logits, int64_t V, const std::vector<int32_t>& history, float frequency,
                             float presence) {
  if (frequency == 0.0f && presence == 0.0f) return;
  std::unordered_map<int32_t, int> counts;
  for (int32_t t : history)
    if (t >= 0 && t < V) ++counts[t];
  for (auto [t, c] : counts) logits[t] -= static_cast<float>(c) * frequency + presence;
}

namespace {
// log(sum(exp(x))) over the finite entries.
double LogSumExp(const float* x, int64_t V) {
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < V; ++i) mx = std::max(mx, x[i]);
  if (!std::isfinite(mx)) return mx;
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(static_cast<double>(x[i] - mx));
  return mx + std::log(s);
}
}  // namespace

TokenLogprob Sampler::Logprob(const float* logits, int64_t V, int32_t id) {
  double lse = LogSumExp(logits, V);
  return {id, static_cast<float>(logits[id] - lse)};
}

std::vector<TokenLogprob> Sampler::TopLogprobs(const float* logits, int64_t V, int n) {
  std::vector<TokenLogprob> out;
  if (n <= 0) return out;
  n = static_cast<int>(std::min<int64_t>(n, V));
  double lse = LogSumExp(logits, V);
  std::vector<int32_t> idx(static_cast<size_t>(V));
  for (int64_t i = 0; i < V; ++i) idx[i] = static_cast<int32_t>(i);
  std::partial_sort(idx.begin(), idx.begin() + n, idx.end(), [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int i = 0; i < n; ++i) out.push_back({idx[i], static_cast<float>(logits[idx[i]] - lse)});
  return out;
}

double TokenDist::Prob(int32_t id) const {
  if (total <= 0) return 0;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] == id) return p[i] / total;
  return 0;
}

int32_t Sampler::Sample(float* logits, int64_t V, const std::vector<int32_t>& history,
                        const std::vector<uint8_t>* allowed) {
  ApplyPenalties(logits, V, history, p_.frequency_penalty, p_.presence_penalty);
  Distribution(logits, V, allowed, &dist_);
  if (dist_.empty()) return -1;
  if (p_.temperature <= 0.0f) return dist_.ids[0];  // greedy draws nothing from the RNG
  return Draw(dist_);
}

void Sampler::Distribution(const float* logits, int64_t V, const std::vector<uint8_t>* allowed, TokenDist* out) {
  out->ids.clear();
  out->p.clear();
  out->total = 0;
  auto ok = [&](int64_t i) { return (!allowed || (*allowed)[i]) && !std::isnan(logits[i]); };
  if (p_.temperature <= 0.0f) {  // greedy: first maximum, as torch.argmax
    int64_t best = -1;
    for (int64_t i = 0; i < V; ++i)
      if (ok(i) && (best < 0 || logits[i] > logits[best])) best = i;
    if (best >= 0) out->ids.push_back(static_cast<int32_t>(best)), out->p.push_back(1.0), out->total = 1.0;
    return;
  }
  cand_.clear();
  for (int64_t i = 0; i < V; ++i)
    if (ok(i) && logits[i] > -std::numeric_limits<float>::infinity())
      cand_.emplace_back(logits[i] / p_.temperature, static_cast<int32_t>(i));
  if (cand_.empty()) return;
  auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t n = cand_.size();
  float mx = cand_[0].first;
  for (auto& c : cand_) mx = std::max(mx, c.first);
  if (p_.top_k > 0 && static_cast<size_t>(p_.top_k) < n) {
    std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
    n = static_cast<size_t>(p_.top_k);
  } else if (p_.top_p < 1.0f) {
    // Sorting a 129k vocabulary costs milliseconds per token; tokens 30 nats below the best
    // (relative probability < 1e-13) cannot change the nucleus, so they go first.
    auto end = std::remove_if(cand_.begin(), cand_.end(), [&](const auto& c) { return c.first < mx - 30.0f; });
    cand_.erase(end, cand_.end());
    std::sort(cand_.begin(), cand_.end(), by_logit);
    n = cand_.size();
  }
  // Softmax over the survivors (sorted best first when top-k / top-p need the order).
  std::vector<double>& prob = out->p;
  prob.resize(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += (prob[i] = std::exp(static_cast<double>(cand_[i].first) - mx));
  for (double& q : prob) q /= sum;
  if (p_.top_p < 1.0f) {  // smallest prefix whose mass reaches top_p (always keeps one)
    double acc = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; ++i) {
      acc += prob[i];
      if (acc >= p_.top_p) { keep = i + 1; break; }
    }
    n = keep;
  }
  if (p_.min_p > 0.0f) {  // drop tokens below min_p x the best probability (order kept)
    double best = 0;
    for (size_t i = 0; i < n; ++i) best = std::max(best, prob[i]);
    size_t w = 0;
    for (size_t i = 0; i < n; ++i)
      if (prob[i] >= best * p_.min_p) {
        prob[w] = prob[i];
        cand_[w] = cand_[i];
        ++w;
      }
    n = w;
  }
  prob.resize(n);
  out->ids.resize(n);
  for (size_t i = 0; i < n; ++i) out->ids[i] = cand_[i].second, out->total += prob[i];
}

int32_t Sampler::Draw(const TokenDist& d, int32_t exclude) {
  double total = d.total;
  const size_t n = d.ids.size();
  for (size_t i = 0; i < n; ++i)
    if (d.ids[i] == exclude) total -= d.p[i];
  if (n == 0 || total <= 0) return -1;
  double r = std::uniform_real_distribution<double>(0.0, total)(rng_);
  int32_t last = -1;
  for (size_t i = 0; i < n; ++i) {
    if (d.ids[i] == exclude) continue;
    last = d.ids[i];
    r -= d.p[i];
    if (r < 0) return d.ids[i];
  }
  return last;
}

void Sampler::ApplyLogitBias(float* logits, int64_t V, const std::vector<std::pair<int32_t, float>>& bias) {
  for (const auto& [id, b] : bias)
    if (id >= 0 && id < V) logits[id] += b;
}

}  // namespace qs
