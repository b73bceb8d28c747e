// Token sampling: penalties, temperature, top-k, top-p (nucleus), min-p, seeded RNG.
//
// Order follows llama.cpp / Hugging Face: penalties on the raw logits (OpenAI's definition:
// logit -= count * frequency_penalty + (count > 0) * presence_penalty), then temperature, then the
// truncations top-k -> top-p -> min-p over the softmax, then a draw. temperature == 0 is greedy.
// The RNG is per request (std::mt19937_64 seeded from `seed`), so a seeded request gives the same
// tokens whatever else the server is doing.
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace qs {

struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  int top_k = 0;             // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  uint64_t seed = 0;
  bool has_seed = false;     // false: a random seed per request
  // OpenAI's logit_bias: added to the token's logit before sampling (after the penalties), so it
  // steers greedy decoding too; -100 all but bans a token, +100 all but forces it.
  std::vector<std::pair<int32_t, float>> logit_bias;
};

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0.0f;
};

// The distribution a Sampler draws from after temperature and truncation: p[i] of token ids[i],
// unnormalised (they sum to `total`). Greedy: the argmax alone.
struct TokenDist {
  std::vector<int32_t> ids;
  std::vector<double> p;
  double total = 0;
  double Prob(int32_t id) const;  // normalised probability of `id` (0 when not a candidate)
  bool empty() const { return ids.empty(); }
};

class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);

  // Picks a token from logits[0..V). `history`: tokens generated so far (penalties). `allowed`
  // (optional, V entries): tokens with allowed[i] == 0 are never chosen. Returns -1 when nothing
  // is allowed. Modifies `logits` (penalties applied in place).
  int32_t Sample(float* logits, int64_t V, const std::vector<int32_t>& history,
                 const std::vector<uint8_t>* allowed = nullptr);

  // The distribution Sample(logits, V, {}, allowed) draws from (no penalties applied here).
  void Distribution(const float* logits, int64_t V, const std::vector<uint8_t>* allowed, TokenDist* out);
  // One draw from `d` with this sampler's RNG, leaving out token `exclude` (the residual
  // max(0, p - q) of speculative sampling when the draft q is one-hot); -1 when nothing is left.
  int32_t Draw(const TokenDist& d, int32_t exclude = -1);
  // A uniform number in [0, 1) from this sampler's RNG (the accept test of a draft).
  double Uniform() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }
  bool greedy() const { return p_.temperature <= 0.0f; }

  // Log-probabilities (log-softmax of the penalized logits, before temperature, as OpenAI
  // reports them) of token `id` and the n most likely tokens. Call after Sample on the same logits.
  static TokenLogprob Logprob(const float* logits, int64_t V, int32_t id);
  static std::vector<TokenLogprob> TopLogprobs(const float* logits, int64_t V, int n);

  // Adds each (token, bias) to logits[token] (ids outside [0, V) are skipped).
  static void ApplyLogitBias(float* logits, int64_t V, const std::vector<std::pair<int32_t, float>>& bias);

  // Applies frequency/presence penalties to logits in place.
  static void ApplyPenalties(float* logits, int64_t V, const std::vector<int32_t>& history,
                             float frequency, float presence);

  const SamplingParams& params() const { return p_; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int32_t>> cand_;  // scratch
  TokenDist dist_;                                // scratch of Sample
};

}  // namespace qs
