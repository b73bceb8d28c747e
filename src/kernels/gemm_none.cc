// Non-x86 builds: no SIMD kernel tables (Cpu().max_isa is always kScalar there).
#include "kernels/kernel_iface.h"

namespace qs::kern {
const KernelTable* Avx2Kernels() { return nullptr; }
const KernelTable* Avx512Kernels(bool, bool) { return nullptr; }
}  // namespace qs::kern
