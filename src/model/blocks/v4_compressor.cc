#include "model/blocks/v4_compressor.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/thread_pool.h"
#include "kernels/dsa.h"
#include "kernels/ops.h"

namespace qs {

V4Compressor::V4Compressor(const ModelConfig& c, std::string prefix, int64_t ratio, int64_t d, bool indexer)
    : p_(std::move(prefix)),
      hidden_(c.hidden_size),
      ratio_(ratio),
      d_(d),
      coff_(ratio == 4 ? 2 : 1),
      rd_(c.qk_rope_head_dim),
      eps_(c.rms_norm_eps),
      indexer_(indexer) {}

void V4Compressor::VisitTensors(TensorVisitor& v) {
  // ape is [ratio, coff d] F32; read as a matrix and widened once in Finish.
  v.Matrix(p_ + "ape", &ape_m_, ratio_, coff_ * d_, TensorRole::kBias);
  v.Matrix(p_ + "wkv.weight", &wkv_, coff_ * d_, hidden_, TensorRole::kPlain);
  v.Matrix(p_ + "wgate.weight", &wgate_, coff_ * d_, hidden_, TensorRole::kPlain);
  v.Vector(p_ + "norm.weight", &norm_, d_, TensorRole::kNorm);
}

Status V4Compressor::Finish() {
  ape_.resize(static_cast<size_t>(ratio_ * coff_ * d_));
  for (int64_t j = 0; j < ratio_; ++j) DecodeRow(ape_m_, j, &ape_[j * coff_ * d_]);
  return Status::Ok();
}

void V4Compressor::Forward(const float* x, const BatchRows& rows, int64_t layer, int64_t off, int64_t boff,
                           const V4Rope& rope, bool qsim, ThreadPool* pool) {
  const int64_t T = rows.T(), W = coff_ * d_;
  proj_.resize(static_cast<size_t>(T * 2 * W));
  // kv and score side by side in one [T, 2W] buffer (README 8: fp32, bf16 weights widened).
  MatMulJob jobs[2] = {{&wkv_, x, hidden_, T, proj_.data(), 2 * W}, {&wgate_, x, hidden_, T, proj_.data() + W, 2 * W}};
  MatMulMany(jobs, 2, pool);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = rows.positions[t];
    float* a = rows.caches[t]->aux(layer, pos) + off;
    const float* pr = &proj_[t * 2 * W];
    const float* ape = &ape_[(pos % ratio_) * W];
    std::copy(pr, pr + W, a);
    for (int64_t i = 0; i < W; ++i) a[W + i] = pr[W + i] + ape[i];
  }
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = rows.positions[t];
    if ((pos + 1) % ratio_ == 0) Pool(rows.caches[t], layer, off, boff, (pos + 1) / ratio_ - 1, rope, qsim);
  }
}

// Block b: a softmax over its tokens for every feature separately (README 8); with overlap the
// first d features of block b-1's tokens join the last d features of block b's own.
void V4Compressor::Pool(KvCache* cache, int64_t layer, int64_t off, int64_t boff, int64_t b, const V4Rope& rope,
                        bool qsim) {
  const int64_t W = coff_ * d_, r = ratio_;
  std::vector<const float*> src;  // aux rows of the pooled tokens, with their feature offset
  std::vector<int64_t> foff;
  if (coff_ == 2 && b > 0)
    for (int64_t j = 0; j < r; ++j) src.push_back(cache->aux(layer, (b - 1) * r + j) + off), foff.push_back(0);
  for (int64_t j = 0; j < r; ++j) src.push_back(cache->aux(layer, b * r + j) + off), foff.push_back(coff_ == 2 ? d_ : 0);
  const size_t n = src.size();
  float* e = cache->block(layer, b) + boff;
  std::vector<float> p(n);
  for (int64_t f = 0; f < d_; ++f) {
    float m = -std::numeric_limits<float>::infinity();
    for (size_t i = 0; i < n; ++i) m = std::max(m, src[i][W + foff[i] + f]);
    float s = 0.f;
    for (size_t i = 0; i < n; ++i) s += (p[i] = std::exp(src[i][W + foff[i] + f] - m));
    float acc = 0.f;
    for (size_t i = 0; i < n; ++i) acc += src[i][foff[i] + f] * (p[i] / s);
    e[f] = acc;
  }
  RmsNorm(e, norm_.data(), d_, eps_, e);
  rope.Apply(e + d_ - rd_, b * r);  // at the block's first token (README 8)
  if (indexer_) {
    HadamardRotate(e, d_);
    if (qsim) Fp4RoundTrip(e, d_);
  } else if (qsim) {
    Fp8RoundTrip(e, d_ - rd_, 64);
  }
}

V4Indexer::V4Indexer(const ModelConfig& c, std::string prefix)
    : p_(std::move(prefix)),
      hidden_(c.hidden_size),
      q_lora_(c.q_lora_rank),
      nh_(c.index_n_heads),
      d_(c.index_head_dim),
      topk_(c.index_topk),
      rd_(c.qk_rope_head_dim),
      comp_(c, p_ + "compressor.", 4, c.index_head_dim, /*indexer=*/true) {}

void V4Indexer::VisitTensors(TensorVisitor& v) {
  v.Matrix(p_ + "wq_b.weight", &wq_b_, nh_ * d_, q_lora_, TensorRole::kLinear);
  v.Matrix(p_ + "weights_proj.weight", &weights_proj_, nh_, hidden_, TensorRole::kPlain);
  comp_.VisitTensors(v);
}

void V4Indexer::Forward(const float* x, const float* qr, const BatchRows& rows, int64_t layer, int64_t off,
                        int64_t boff, const V4Rope& rope, bool qsim, ThreadPool* pool,
                        std::vector<std::vector<int32_t>>* sel, const LayerTrace* trace) {
  const int64_t T = rows.T(), Q = nh_ * d_;
  q_.resize(static_cast<size_t>(T * Q));
  w_.resize(static_cast<size_t>(T * nh_));
  MatMulJob jobs[2] = {{&wq_b_, qr, q_lora_, T, q_.data(), Q}, {&weights_proj_, x, hidden_, T, w_.data(), nh_}};
  MatMulMany(jobs, 2, pool);
  comp_.Forward(x, rows, layer, off, boff, rope, qsim, nullptr);
  // A positive scale cannot change a selection, but the trace's scores are the reference's.
  const float wscale = static_cast<float>(std::pow(static_cast<double>(d_), -0.5) * std::pow(static_cast<double>(nh_), -0.5));
  sel->resize(static_cast<size_t>(T));
  int64_t S = 0;
  for (int64_t t = 0; t < T; ++t) S = std::max(S, (rows.positions[t] + 1) / 4);
  const size_t trace_sel0 = trace && trace->selected ? trace->selected->size() : 0;
  if (trace && trace->selected) trace->selected->resize(trace_sel0 + static_cast<size_t>(T * topk_), -1);
  size_t trace_sc0 = 0;
  if (trace && trace->index_scores) {
    trace_sc0 = trace->index_scores->size();
    trace->index_scores->resize(trace_sc0 + static_cast<size_t>(T * S), -std::numeric_limits<float>::infinity());
  }
  auto body = [&](int64_t t0, int64_t t1, int) {
    thread_local std::vector<float> keys, sc, dots;
    thread_local std::vector<int32_t> order;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t pos = rows.positions[t];
      KvCache* cache = rows.caches[t];
      float* q = &q_[t * Q];
      float* w = &w_[t * nh_];
      for (int64_t h = 0; h < nh_; ++h) {
        float* qh = q + h * d_;
        rope.Apply(qh + d_ - rd_, pos);
        HadamardRotate(qh, d_);
        if (qsim) Fp4RoundTrip(qh, d_);
        w[h] *= wscale;
      }
      const int64_t nb = (pos + 1) / 4;  // visible blocks (README 7)
      auto& picks = (*sel)[t];
      picks.clear();
      if (nb == 0) continue;
      keys.resize(static_cast<size_t>(nb * d_));
      for (int64_t b = 0; b < nb; ++b) {
        const float* e = cache->block(layer, b) + boff;
        std::copy(e, e + d_, &keys[b * d_]);
      }
      dots.resize(static_cast<size_t>(nh_ * nb));
      AttnScores(q, nh_, d_, keys.data(), d_, nb, d_, 1.0f, dots.data(), nb);
      sc.assign(static_cast<size_t>(nb), 0.f);
      for (int64_t h = 0; h < nh_; ++h)
        for (int64_t b = 0; b < nb; ++b) sc[b] += std::max(dots[h * nb + b], 0.0f) * w[h];
      order.resize(static_cast<size_t>(nb));
      std::iota(order.begin(), order.end(), 0);
      const int64_t k = std::min(topk_, nb);
      std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) {
        return sc[a] != sc[b] ? sc[a] > sc[b] : a < b;
      });
      picks.assign(order.begin(), order.begin() + k);
      std::sort(picks.begin(), picks.end());
      if (trace && trace->selected) std::copy(picks.begin(), picks.end(), trace->selected->begin() + trace_sel0 + t * topk_);
      if (trace && trace->index_scores) std::copy(sc.begin(), sc.end(), trace->index_scores->begin() + trace_sc0 + t * S);
    }
  };
  if (pool && T > 1) pool->ParallelFor(T, body, 1);
  else body(0, T, 0);
}

}  // namespace qs
