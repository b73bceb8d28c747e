#include "kernels/ops.h"

#include <algorithm>
#include <cmath>

#include "kernels/matmul.h"

namespace qs {

void RmsNorm(const float* x, const float* w, int64_t n, double eps, float* y) {
  // Sum of squares in fp32 like torch's x.pow(2).mean(); 4 partial sums keep it accurate enough
  // and let the compiler pipeline the loop.
  float ss = Dot(x, x, n);
  float inv = 1.0f / std::sqrt(ss / static_cast<float>(n) + static_cast<float>(eps));
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * inv * w[i];
}

void Softmax(float* x, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  float inv = 1.0f / s;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

void SwiGlu(const float* g, const float* u, int64_t n, float* out) { SwiGluKernel(g, u, n, out); }

void Axpy(float a, const float* x, float* y, int64_t n) { AxpyKernel(a, x, y, n); }

void AttentionRows(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, const float* v, int64_t vs,
                   const int32_t* idx, int64_t S, int64_t dk, int64_t dv, float scale, float* out, int64_t os,
                   std::vector<float>* scratch) {
  const int64_t B = kAttnBlock;
  // scratch: scores [nq][B] | block values [nq][dv] | running max [nq] | running sum [nq]
  //          | gathered key rows [B][ks] | gathered value rows [B][vs] (idx only)
  const bool v_in_k = v >= k && vs == ks && (v - k) + dv <= ks;
  const int64_t gk = idx ? B * ks : 0, gv = idx && !v_in_k ? B * vs : 0;
  scratch->resize(static_cast<size_t>(nq * B + nq * dv + 2 * nq + gk + gv));
  float* sc = scratch->data();
  float* kg = sc + nq * B + nq * dv + 2 * nq;
  float* vg = kg + gk;
  float* blk = sc + nq * B;
  float* mx = blk + nq * dv;
  float* sum = mx + nq;
  for (int64_t i = 0; i < nq; ++i) {
    mx[i] = -INFINITY;
    sum[i] = 0.f;
    for (int64_t c = 0; c < dv; ++c) out[i * os + c] = 0.f;
  }
  for (int64_t s0 = 0; s0 < S; s0 += B) {
    const int64_t n = std::min(B, S - s0);
    const float* kb = k + s0 * ks;
    const float* vb = v + s0 * vs;
    if (idx) {
      for (int64_t j = 0; j < n; ++j) {
        std::copy_n(k + static_cast<int64_t>(idx[s0 + j]) * ks, ks, kg + j * ks);
        if (!v_in_k) std::copy_n(v + static_cast<int64_t>(idx[s0 + j]) * vs, dv, vg + j * vs);
      }
      kb = kg;
      vb = v_in_k ? kg + (v - k) : vg;
    }
    AttnScores(q, nq, qs, kb, ks, n, dk, scale, sc, B);
    for (int64_t i = 0; i < nq; ++i) {
      float* si = sc + i * B;
      float bm = si[0];
      for (int64_t j = 1; j < n; ++j) bm = si[j] > bm ? si[j] : bm;
      const float m = bm > mx[i] ? bm : mx[i];
      const float corr = std::exp(mx[i] - m);  // 0 on the first block (mx = -inf)
      mx[i] = m;
      sum[i] = sum[i] * corr + ExpShiftKernel(si, n, m);
      if (corr != 1.f)
        for (int64_t c = 0; c < dv; ++c) out[i * os + c] *= corr;
    }
    AttnWeightedSum(sc, B, nq, vb, vs, n, dv, blk, dv);
    for (int64_t i = 0; i < nq; ++i) AxpyKernel(1.f, blk + i * dv, out + i * os, dv);
  }
  for (int64_t i = 0; i < nq; ++i) {
    const float inv = 1.f / sum[i];
    for (int64_t c = 0; c < dv; ++c) out[i * os + c] *= inv;
  }
}

void Attention(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, const float* v, int64_t vs,
               int64_t S, int64_t dk, int64_t dv, float scale, float* out, int64_t os, std::vector<float>* scratch) {
  AttentionRows(q, nq, qs, k, ks, v, vs, nullptr, S, dk, dv, scale, out, os, scratch);
}

}  // namespace qs
