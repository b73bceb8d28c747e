// AVX2 + FMA + F16C instantiation of gemm_impl.h (compiled with -mavx2 -mfma -mf16c only).
#include "kernels/gemm_impl.h"

namespace qs::kern {

const KernelTable* Avx2Kernels() {
  static const KernelTable t = {"avx2", &MatMulRows<VecAvx2>, &DotF<VecAvx2>, &DecodeRowAny<VecAvx2>, &AxpyF<VecAvx2>, &QuantizeQ8,
                                  &AttnScoresF<VecAvx2>, &AttnWsumF<VecAvx2>,
                                  &SwiGluF<VecAvx2>, &ExpShiftF<VecAvx2>, nullptr};
  return &t;
}

}  // namespace qs::kern
