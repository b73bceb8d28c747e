// Kernels of DeepSeek Sparse Attention's lightning indexer (DeepSeek-V3.2-Exp inference/model.py
// `Indexer`, its kernel.py `act_quant` / `fp8_index`, and fast_hadamard_transform), on CPUs
// without FP8: the e4m3 values are exact in fp32, so products and sums run in fp32 as the
// reference's own fp32 stand-ins do.
#pragma once

#include <cstdint>
#include <vector>

namespace qs {

// x <- x · H_n · n^-0.5 in place (Walsh–Hadamard in natural / Sylvester order; n a power of two):
// model.py rotate_activation. The butterflies are exact up to fp32 rounding; the scale is
// fp32(n^-0.5) as the reference multiplies it.
void HadamardRotate(float* x, int64_t n);

// kernel.py act_quant(x, block = n, scale_fmt = "ue8m0") for one block of n values:
//   amax = max(max|x|, 1e-4); s = amax * fp32(1/448); s = 2^ceil(log2 s) (from the fp32 bits);
//   code = e4m3fn(RNE(clamp(x / s, +-448))).
// Writes the e4m3 *values* (exact floats, unscaled) to q and returns s.
float QuantizeE4M3Ue8m0(const float* x, int64_t n, float* q);

// torch.nn.LayerNorm (biased variance, weight and bias): model.py Indexer.k_norm.
void LayerNorm(const float* x, const float* w, const float* b, int64_t n, double eps, float* y);

// Index scores of one query over S keys (kernel.py fp8_index for one row):
//   out[j] = key_j[0] * sum_h w[h] * max(0, q_h . key_j[1 .. d])
// q: [H, d] e4m3 values; w: [H] per-head weights (scales folded in); key_j = keys + j * ks holds
// [scale | d e4m3 values] (the indexer's cache row). Each key row is read once for all heads.
void IndexScores(const float* q, int64_t H, int64_t d, const float* w, const float* keys, int64_t ks, int64_t S,
                 float* out, std::vector<float>* scratch);

}  // namespace qs

namespace qs {

// DeepSeek-V4's in-model quantisation simulation (QAT round trips; fixture README items 9-10):
// FP8: per block of `block` values, x <- e4m3(RNE(clamp(x / s, +-448))) * s with
//   s = 2^ceil(log2(max(amax, 1e-4) * fp32(1/448)))   (kernel.py act_quant, ue8m0, inplace).
void Fp8RoundTrip(float* x, int64_t n, int64_t block);
// FP4: per block of 32 values, x <- e2m1(RNE(clamp(x / s, +-6))) * s with
//   s = 2^ceil(log2(max(amax, 6 * 2^-126) * fp32(1/6)))   (kernel.py fp4_act_quant, inplace).
void Fp4RoundTrip(float* x, int64_t n);

}  // namespace qs
