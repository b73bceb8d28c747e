// Element-wise and normalisation ops on fp32 activations.
#pragma once

#include <cstdint>
#include <vector>

namespace qs {

// y = x * rsqrt(mean(x^2) + eps) * w   (RMSNorm, Zhang & Sennrich 2019; fp32 as model.py).
void RmsNorm(const float* x, const float* w, int64_t n, double eps, float* y);
// In place softmax over n values (max-subtracted, fp32, libm's expf in index order): the router's,
// where near-ties between experts are decided by exact comparisons as in the reference.
// (Attention has its own online softmax, Attention below.)
void Softmax(float* x, int64_t n);
float Sigmoid(float x);
// out[i] = silu(g[i]) * u[i]  (SwiGLU: down(silu(gate(x)) * up(x))).
void SwiGlu(const float* g, const float* u, int64_t n, float* out);
// y += a * x
void Axpy(float a, const float* x, float* y, int64_t n);

// Attention of nq queries over S cached rows with an online softmax (Milakov & Gimelshein 2018;
// FlashAttention's loop): keys in blocks of kAttnBlock rows, running max and sum per query, the
// value accumulator rescaled when the max grows, so each block of cached rows is read from memory
// once and reused from cache for its scores and its values (for MLA the keys and values are the
// same latent rows). Queries q_i = q + i * qs (dk values), keys k + s * ks (dk), values
// v + s * vs (dv); out_i = out + i * os (dv) = softmax_s(scale q_i . k_s) . v.
// `scratch` is reused between calls (no allocation once grown).
inline constexpr int64_t kAttnBlock = 64;
void Attention(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, const float* v, int64_t vs,
               int64_t S, int64_t dk, int64_t dv, float scale, float* out, int64_t os, std::vector<float>* scratch);
// The same over the S cached rows idx[0..S) only (sparse attention: row s is k + idx[s] * ks).
// Each block of up to kAttnBlock selected rows is gathered into scratch (it stays in L2) and then
// runs through the same kernels; when the values live inside the key rows (MLA: v == k + offset,
// vs == ks) the gathered keys serve as values too.
void AttentionRows(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, const float* v, int64_t vs,
                   const int32_t* idx, int64_t S, int64_t dk, int64_t dv, float scale, float* out, int64_t os,
                   std::vector<float>* scratch);

}  // namespace qs
