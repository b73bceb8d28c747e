// Scalar twins of the SIMD kernels' integer path (gemm_impl.h TileQ), and the activation
// quantizer every path shares.
#pragma once

#include <cstdint>

#include "kernels/kernel_iface.h"

namespace qs::kern::ref {

// Activations -> blocks of 32 int8 with one scale each, exactly as ggml's x86 quantize_row_q8_0
// (q = nearest-even(x * 127 / amax), d = fp16(amax / 127), kept here as the float it rounds to).
// n must be a multiple of 32. sx (optional) receives
// d * sum(q) per block (as ggml's block_q8_1 s, used by offset formats such as Q4_0).
void QuantizeActsQ8(const float* x, int64_t n, int8_t* q, float* d, float* sx = nullptr);

// The int8-activation dot product of one weight row (nb 32-element blocks) and quantized
// activations. kQ8_0 / kQ4_0: sum over blocks of (d_w d_x) * (integer dot), in fp32, as the
// kernels do. the K-quants and i-quants: the reference dequantizer's weights times d_x q_x, summed in
// double (the exact value the kernels approximate).
float DotQ8Row(WFmt fmt, const uint8_t* row, const int8_t* qx, const float* dx, int64_t nb);

}  // namespace qs::kern::ref
