// The i-quant codebooks (iq_grids_*.cc: data from ggml-common.h). Byte j of an entry is element j
// of the group it encodes: (entry >> 8j) & 0xFF, signed for kIq1sGrid (values -1, 0, 1).
#pragma once

#include <cstdint>

namespace qs::iq {
extern const uint8_t kSignsIq2xs[128];    // 7-bit sign index -> 8 signs (bit 7: even parity)
extern const uint64_t kIq2xxsGrid[256];   // IQ2_XXS: 8 magnitudes from {8, 25, 43}
extern const uint64_t kIq2xsGrid[512];    // IQ2_XS
extern const uint64_t kIq2sGrid[1024];    // IQ2_S
extern const uint32_t kIq3xxsGrid[256];   // IQ3_XXS: 4 magnitudes
extern const uint32_t kIq3sGrid[512];     // IQ3_S
extern const uint64_t kIq1sGrid[2048];    // IQ1_S / IQ1_M: 8 values in {-1, 0, 1}
}  // namespace qs::iq
