// AVX-512 (F/BW/VL/DQ) instantiation of gemm_impl.h, with and without AVX512-VNNI, and with
// AVX512-BF16's F16 prefill (gemm_bf16.h) or without it (compiled with the -mavx512* flags only;
// chosen at run time from CPUID and QIUSUO_F16_PREFILL, see matmul.cc). The tables without bf16
// run no bf16 instruction: those appear only in gemm_bf16.h's intrinsics.
#include "kernels/gemm_impl.h"
#include "kernels/gemm_bf16.h"

namespace qs::kern {

const KernelTable* Avx512Kernels(bool vnni, bool bf16) {
  using V = VecAvx512<false>;
  using W = VecAvx512<true>;
  static const KernelTable plain = {"avx512", &MatMulRows<V>, &DotF<V>, &DecodeRowAny<V>, &AxpyF<V>, &QuantizeQ8, &AttnScoresF<V>, &AttnWsumF<V>, &SwiGluF<V>, &ExpShiftF<V>, nullptr};
  static const KernelTable with_vnni = {"avx512-vnni", &MatMulRows<W>, &DotF<W>, &DecodeRowAny<W>, &AxpyF<W>, &QuantizeQ8, &AttnScoresF<W>, &AttnWsumF<W>, &SwiGluF<W>, &ExpShiftF<W>, nullptr};
  static const KernelTable plain_bf16 = {"avx512-bf16", &MatMulRowsBf16<V>, &DotF<V>, &DecodeRowAny<V>, &AxpyF<V>, &QuantizeQ8, &AttnScoresF<V>, &AttnWsumF<V>, &SwiGluF<V>, &ExpShiftF<V>, &RoundBf16};
  static const KernelTable vnni_bf16 = {"avx512-vnni-bf16", &MatMulRowsBf16<W>, &DotF<W>, &DecodeRowAny<W>, &AxpyF<W>, &QuantizeQ8, &AttnScoresF<W>, &AttnWsumF<W>, &SwiGluF<W>, &ExpShiftF<W>, &RoundBf16};
  if (bf16) return vnni ? &vnni_bf16 : &plain_bf16;
  return vnni ? &with_vnni : &plain;
}

}  // namespace qs::kern
