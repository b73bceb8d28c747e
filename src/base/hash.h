// Small, stable hashes for data that outlives the process (the on-disk prefix cache): values
// must be the same in every build and run, which std::hash does not promise.
//   Crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, RFC 3720 appendix B.4), the
//           checksum of iSCSI, ext4 and LevelDB; slicing-by-8 tables, a few GB/s.
//   Fnv1a64: FNV-1a 64-bit (http://www.isthe.com/chongo/tech/comp/fnv/), for keys and names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace qs {

// Continues a CRC-32C over `n` bytes (start with crc = 0). Crc32c("123456789") == 0xE3069283.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

constexpr uint64_t kFnv64Offset = 0xcbf29ce484222325ull;
inline uint64_t Fnv1a64(const void* data, size_t n, uint64_t h = kFnv64Offset) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
inline uint64_t Fnv1a64(std::string_view s, uint64_t h = kFnv64Offset) { return Fnv1a64(s.data(), s.size(), h); }

}  // namespace qs
