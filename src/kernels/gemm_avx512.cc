// AVX-512 (F/BW/VL/DQ) instantiation of gemm_impl.h, with and without AVX512-VNNI (compiled with
// the -mavx512* flags only; chosen at run time from CPUID, see matmul.cc).
#include "kernels/gemm_impl.h"

namespace qs::kern {

const KernelTable* Avx512Kernels(bool vnni) {
  using V = VecAvx512<false>;
  using W = VecAvx512<true>;
  static const KernelTable plain = {"avx512", &MatMulRows<V>, &DotF<V>, &DecodeRowAny<V>, &AxpyF<V>, &QuantizeQ8, &AttnScoresF<V>, &AttnWsumF<V>, &SoftmaxF<V>, &SwiGluF<V>};
  static const KernelTable with_vnni = {"avx512-vnni", &MatMulRows<W>, &DotF<W>, &DecodeRowAny<W>, &AxpyF<W>, &QuantizeQ8, &AttnScoresF<W>, &AttnWsumF<W>, &SoftmaxF<W>, &SwiGluF<W>};
  return vnni ? &with_vnni : &plain;
}

}  // namespace qs::kern
