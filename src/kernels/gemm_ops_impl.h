// The vector kernels around the products: attention over a KV cache and the element-wise ops
// with a vector exp (kernel_iface.h attn_scores / attn_wsum / softmax / swiglu / exp_shift),
// written once over the vector layer (simd.h) and instantiated per ISA by gemm_avx2.cc /
// gemm_avx512.cc, like gemm_impl.h (which includes this). Internal linkage only.
#pragma once

#include <immintrin.h>

#include <cmath>
#include <cstdint>

#include "kernels/simd.h"

namespace qs::kern {
namespace {

// ---- attention over a KV cache (kernel_iface.h attn_scores / attn_wsum) ----------------------
// out[i * os + s] = scale * q_i . k_s: each key row is read once for all nq queries (the query
// heads of a GQA group, or all heads of MLA's shared latent cache) while it sits in L1.
template <class V>
void AttnScoresF(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, int64_t S, int64_t d, float scale,
                 float* out, int64_t os) {
  using F = typename V::F;
  const int64_t dv = d / V::N * V::N;
  for (int64_t s = 0; s < S; ++s) {
    const float* kr = k + s * ks;
    _mm_prefetch(reinterpret_cast<const char*>(kr + 2 * ks), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(kr + 2 * ks + 16), _MM_HINT_T0);
    for (int64_t i = 0; i < nq; ++i) {
      const float* qi = q + i * qs;
      F a0 = V::Zero(), a1 = V::Zero();
      int64_t c = 0;
      for (; c + 2 * V::N <= dv; c += 2 * V::N) {
        a0 = V::Fma(V::Load(qi + c), V::Load(kr + c), a0);
        a1 = V::Fma(V::Load(qi + c + V::N), V::Load(kr + c + V::N), a1);
      }
      for (; c < dv; c += V::N) a0 = V::Fma(V::Load(qi + c), V::Load(kr + c), a0);
      float r = V::Reduce(V::Add(a0, a1));
      for (; c < d; ++c) r += qi[c] * kr[c];
      out[i * os + s] = r * scale;
    }
  }
}

// out[i * os + c] = sum_s p[i * ps + s] v_s[c]: up to 6 queries x J vectors of columns stay in
// registers (24 of 32 zmm on AVX-512 with J = 4; 12 of 16 ymm on AVX2 with J = 2) while the value
// rows stream once per J vectors of columns.
template <class V>
constexpr int WsumVecs() { return V::N == 16 ? 4 : 2; }
template <class V, int NQ>
inline void AttnWsumTile(const float* p, int64_t ps, const float* v, int64_t vs, int64_t S, int64_t c0, float* out,
                         int64_t os) {
  using F = typename V::F;
  constexpr int J = WsumVecs<V>();
  F acc[NQ][J];
  for (int i = 0; i < NQ; ++i)
    for (int j = 0; j < J; ++j) acc[i][j] = V::Zero();
  for (int64_t s = 0; s < S; ++s) {
    const float* vr = v + s * vs + c0;
    F vv[J];
    for (int j = 0; j < J; ++j) vv[j] = V::Load(vr + j * V::N);
    for (int i = 0; i < NQ; ++i) {
      const F pb = V::Set1(p[i * ps + s]);
      for (int j = 0; j < J; ++j) acc[i][j] = V::Fma(pb, vv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < NQ; ++i)
    for (int j = 0; j < J; ++j) V::Store(out + i * os + c0 + j * V::N, acc[i][j]);
}

template <class V>
void AttnWsumF(const float* p, int64_t ps, int64_t nq, const float* v, int64_t vs, int64_t S, int64_t d, float* out,
               int64_t os) {
  constexpr int64_t W = WsumVecs<V>() * V::N;
  int64_t c0 = 0;
  for (; c0 + W <= d; c0 += W) {
    int64_t i = 0;
    for (; i + 6 <= nq; i += 6) AttnWsumTile<V, 6>(p + i * ps, ps, v, vs, S, c0, out + i * os, os);
    for (; i + 3 <= nq; i += 3) AttnWsumTile<V, 3>(p + i * ps, ps, v, vs, S, c0, out + i * os, os);
    for (; i < nq; ++i) AttnWsumTile<V, 1>(p + i * ps, ps, v, vs, S, c0, out + i * os, os);
  }
  for (int64_t i = 0; i < nq; ++i)  // columns past the last whole J vectors
    for (int64_t c = c0; c < d; ++c) {
      float r = 0.f;
      for (int64_t s = 0; s < S; ++s) r += p[i * ps + s] * v[s * vs + c];
      out[i * os + c] = r;
    }
}

// ---- element-wise ops with a vector exp -----------------------------------------------------
// e^x with Cephes expf's range reduction (x = n ln2 + r, ln2 in two parts) and degree-6
// polynomial: relative error ~1 ulp; 0 below -87.34 (where 2^n leaves the normal range), finite
// (~FLT_MAX) above 88.72.
template <class V>
inline typename V::F ExpV(typename V::F x) {
  using F = typename V::F;
  const F lo = V::Set1(-87.3365447504f);
  const F xc = V::Min(V::Max(x, lo), V::Set1(88.7228391117f));
  const F n = V::RoundNearest(V::Mul(xc, V::Set1(1.44269504089f)));
  F r = V::Fma(n, V::Set1(-0.693359375f), xc);
  r = V::Fma(n, V::Set1(2.12194440e-4f), r);
  F p = V::Set1(1.9875691500e-4f);
  p = V::Fma(p, r, V::Set1(1.3981999507e-3f));
  p = V::Fma(p, r, V::Set1(8.3334519073e-3f));
  p = V::Fma(p, r, V::Set1(4.1665795894e-2f));
  p = V::Fma(p, r, V::Set1(1.6666665459e-1f));
  p = V::Fma(p, r, V::Set1(5.0000001201e-1f));
  p = V::Fma(p, V::Mul(r, r), V::Add(r, V::Set1(1.f)));
  return V::ZeroWhereBelow(V::MulPow2(p, n), x, lo);
}

// x[i] = e^(x[i] - m) in place; returns their sum (online softmax, kernels/ops.h Attention).
template <class V>
float ExpShiftF(float* x, int64_t n, float m) {
  using F = typename V::F;
  const F neg_m = V::Set1(-m);
  F sv = V::Zero();
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) {
    const F e = ExpV<V>(V::Add(V::Load(x + i), neg_m));
    V::Store(x + i, e);
    sv = V::Add(sv, e);
  }
  float s = V::Reduce(sv);
  if (i < n) {
    alignas(64) float t[V::N];
    for (int k = 0; k < V::N; ++k) t[k] = i + k < n ? x[i + k] - m : -INFINITY;
    V::Store(t, ExpV<V>(V::Load(t)));
    for (int64_t k = 0; i + k < n; ++k) x[i + k] = t[k], s += t[k];
  }
  return s;
}

// out = g / (1 + e^-g) * u, the scalar twin's formula.
template <class V>
void SwiGluF(const float* g, const float* u, int64_t n, float* out) {
  using F = typename V::F;
  const F one = V::Set1(1.f), neg = V::Set1(-1.f);
  int64_t i = 0;
  for (; i + V::N <= n; i += V::N) {
    const F gv = V::Load(g + i);
    V::Store(out + i, V::Mul(V::Div(gv, V::Add(one, ExpV<V>(V::Mul(gv, neg)))), V::Load(u + i)));
  }
  if (i < n) {
    alignas(64) float tg[V::N] = {}, tu[V::N] = {};
    for (int64_t k = 0; i + k < n; ++k) tg[k] = g[i + k], tu[k] = u[i + k];
    const F gv = V::Load(tg);
    V::Store(tg, V::Mul(V::Div(gv, V::Add(one, ExpV<V>(V::Mul(gv, neg)))), V::Load(tu)));
    for (int64_t k = 0; i + k < n; ++k) out[i + k] = tg[k];
  }
}

}  // namespace
}  // namespace qs::kern
