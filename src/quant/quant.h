// Scalar reference (de)quantizers for the ggml block formats (layouts in quant/blocks.h).
//
//  * DequantizeRow is bit-exact with ggml's dequantize_row_* (ggml-quants.c): same formulas, same
//    float operation order, no fused multiply-add (this build does not contract a*b+c).
//  * QuantizeRow reproduces ggml's quantize_row_*_ref (what llama-quantize writes when no
//    importance matrix is given), including the K-quant scale searches (make_qkx2_quants,
//    make_qx_quants, make_q3_quants), so files we write match llama.cpp's byte for byte.
//    One deliberate difference: Q8_K of an all-zero block zeroes bsums (ggml leaves them as
//    they were in the destination buffer).
//
// Supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K;
// dequantization only: IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ4_NL, IQ4_XS
// (quant_iq.cc).
// `n` is the element count (any number of whole rows); it must be a multiple of the block size.
// src / dst need no particular alignment.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "tensor/ggml_type.h"

namespace qs {

// ggml's kvalues_iq4nl: the IQ4_NL / IQ4_XS codebook (value of each 4-bit index).
extern const int8_t kIq4nlValues[16];

bool CanDequantize(GgmlType t);
bool CanQuantize(GgmlType t);

// dst[0..n) = the n values encoded at src.
Status DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);
// Encodes src[0..n) into GgmlRowSize(type, n) bytes at dst.
Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);

// Per-format reference kernels (no checks: n must be a multiple of the block size). The SIMD
// kernels are tested against these.
namespace ref {
void DequantizeQ4_0(const void* src, float* dst, int64_t n);
void DequantizeQ4_1(const void* src, float* dst, int64_t n);
void DequantizeQ5_0(const void* src, float* dst, int64_t n);
void DequantizeQ5_1(const void* src, float* dst, int64_t n);
void DequantizeQ8_0(const void* src, float* dst, int64_t n);
void DequantizeQ8_1(const void* src, float* dst, int64_t n);
void DequantizeQ2_K(const void* src, float* dst, int64_t n);
void DequantizeQ3_K(const void* src, float* dst, int64_t n);
void DequantizeQ4_K(const void* src, float* dst, int64_t n);
void DequantizeQ5_K(const void* src, float* dst, int64_t n);
void DequantizeQ6_K(const void* src, float* dst, int64_t n);
void DequantizeQ8_K(const void* src, float* dst, int64_t n);
void DequantizeIQ1_S(const void* src, float* dst, int64_t n);
void DequantizeIQ1_M(const void* src, float* dst, int64_t n);
void DequantizeIQ2_XXS(const void* src, float* dst, int64_t n);
void DequantizeIQ2_XS(const void* src, float* dst, int64_t n);
void DequantizeIQ2_S(const void* src, float* dst, int64_t n);
void DequantizeIQ3_XXS(const void* src, float* dst, int64_t n);
void DequantizeIQ3_S(const void* src, float* dst, int64_t n);
void DequantizeIQ4_NL(const void* src, float* dst, int64_t n);
void DequantizeIQ4_XS(const void* src, float* dst, int64_t n);

void QuantizeQ4_0(const float* src, void* dst, int64_t n);
void QuantizeQ4_1(const float* src, void* dst, int64_t n);
void QuantizeQ5_0(const float* src, void* dst, int64_t n);
void QuantizeQ5_1(const float* src, void* dst, int64_t n);
void QuantizeQ8_0(const float* src, void* dst, int64_t n);
void QuantizeQ8_1(const float* src, void* dst, int64_t n);
void QuantizeQ2_K(const float* src, void* dst, int64_t n);
void QuantizeQ3_K(const float* src, void* dst, int64_t n);
void QuantizeQ4_K(const float* src, void* dst, int64_t n);
void QuantizeQ5_K(const float* src, void* dst, int64_t n);
void QuantizeQ6_K(const float* src, void* dst, int64_t n);
void QuantizeQ8_K(const float* src, void* dst, int64_t n);
}  // namespace ref

}  // namespace qs
