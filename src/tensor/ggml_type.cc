#include "tensor/ggml_type.h"

#include <array>
#include <cctype>
#include <string>

namespace qs {

namespace {

constexpr int64_t kQK_K = 256;  // ggml-common.h QK_K: K-quant and IQ super-block size

// Indexed by the ggml type number. Sizes are ggml-common.h's static_asserts spelled out.
constexpr GgmlTypeTraits kUnknown{"unknown", 0, 0, false};
constexpr std::array<GgmlTypeTraits, kGgmlTypeCount> kTraits = {{
    {"f32", 1, 4, true},                                  // 0
    {"f16", 1, 2, true},                                  // 1
    {"q4_0", 32, 2 + 16, true},                           // 2
    {"q4_1", 32, 2 + 2 + 16, true},                       // 3
    kUnknown,                                             // 4 (q4_2, removed)
    kUnknown,                                             // 5 (q4_3, removed)
    {"q5_0", 32, 2 + 4 + 16, true},                       // 6
    {"q5_1", 32, 2 + 2 + 4 + 16, true},                   // 7
    {"q8_0", 32, 2 + 32, true},                           // 8
    {"q8_1", 32, 2 + 2 + 32, true},                       // 9
    {"q2_K", kQK_K, 16 + 64 + 2 + 2, true},               // 10
    {"q3_K", kQK_K, 32 + 64 + 12 + 2, true},              // 11
    {"q4_K", kQK_K, 2 + 2 + 12 + 128, true},              // 12
    {"q5_K", kQK_K, 2 + 2 + 12 + 32 + 128, true},         // 13
    {"q6_K", kQK_K, 128 + 64 + 16 + 2, true},             // 14
    {"q8_K", kQK_K, 4 + 256 + 16 * 2, true},              // 15
    {"iq2_xxs", kQK_K, 2 + 32 * 2, true},                 // 16
    {"iq2_xs", kQK_K, 2 + 32 * 2 + 8, true},              // 17
    {"iq3_xxs", kQK_K, 2 + 3 * 32, true},                 // 18
    {"iq1_s", kQK_K, 2 + 32 + 16, true},                  // 19
    {"iq4_nl", 32, 2 + 16, true},                         // 20
    {"iq3_s", kQK_K, 2 + 13 * 8 + 4, true},               // 21
    {"iq2_s", kQK_K, 2 + 64 + 16, true},                  // 22
    {"iq4_xs", kQK_K, 2 + 2 + 4 + 128, true},             // 23
    {"i8", 1, 1, true},                                   // 24
    {"i16", 1, 2, true},                                  // 25
    {"i32", 1, 4, true},                                  // 26
    {"i64", 1, 8, true},                                  // 27
    {"f64", 1, 8, true},                                  // 28
    {"iq1_m", kQK_K, 32 + 16 + 8, true},                  // 29
    {"bf16", 1, 2, true},                                 // 30
    kUnknown,                                             // 31 (q4_0_4_4, removed)
    kUnknown,                                             // 32
    kUnknown,                                             // 33
    {"tq1_0", kQK_K, (256 - 4 * 256 / 64) / 5 + 4 + 2, true},  // 34
    {"tq2_0", kQK_K, 64 + 2, true},                       // 35
    kUnknown,                                             // 36 (iq4_nl_4_4, removed)
    kUnknown,                                             // 37
    kUnknown,                                             // 38
    {"mxfp4", 32, 1 + 16, true},                          // 39
}};

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

}  // namespace

const GgmlTypeTraits& GgmlTraits(GgmlType t) {
  const auto i = static_cast<uint32_t>(t);
  return i < kGgmlTypeCount ? kTraits[i] : kUnknown;
}

bool GgmlTypeKnown(uint32_t raw) { return raw < kGgmlTypeCount && kTraits[raw].known; }

std::optional<GgmlType> GgmlTypeFromName(std::string_view name) {
  const std::string want = Lower(name);
  for (uint32_t i = 0; i < kGgmlTypeCount; ++i)
    if (kTraits[i].known && Lower(kTraits[i].name) == want) return static_cast<GgmlType>(i);
  return std::nullopt;
}

Result<size_t> GgmlRowSize(GgmlType t, int64_t n) {
  const GgmlTypeTraits& tr = GgmlTraits(t);
  if (!tr.known) return InvalidArgument("unknown ggml type " + std::to_string(static_cast<uint32_t>(t)));
  if (n < 0) return InvalidArgument(std::string("negative row length ") + std::to_string(n) + " for type " + tr.name);
  if (n % tr.block_size != 0)
    return InvalidArgument(std::string("row length ") + std::to_string(n) + " is not a multiple of the " + tr.name +
                           " block size " + std::to_string(tr.block_size));
  size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<uint64_t>(n / tr.block_size), tr.type_size, &bytes))
    return InvalidArgument(std::string("row of ") + std::to_string(n) + " " + tr.name + " elements overflows");
  return bytes;
}

Result<size_t> GgmlTensorBytes(GgmlType t, const std::vector<int64_t>& ne) {
  if (ne.empty()) return GgmlRowSize(t, 1);  // a scalar: one element
  for (int64_t d : ne)
    if (d < 0) return InvalidArgument("negative dimension " + std::to_string(d));
  QS_ASSIGN_OR_RETURN(size_t bytes, GgmlRowSize(t, ne[0]));
  for (size_t i = 1; i < ne.size(); ++i) {
    if (__builtin_mul_overflow(bytes, static_cast<uint64_t>(ne[i]), &bytes))
      return InvalidArgument("tensor byte size overflows");
  }
  return bytes;
}

DType GgmlToDType(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return DType::kF32;
    case GgmlType::F16: return DType::kF16;
    case GgmlType::BF16: return DType::kBF16;
    case GgmlType::I8: return DType::kI8;
    case GgmlType::I32: return DType::kI32;
    case GgmlType::I64: return DType::kI64;
    case GgmlType::F64: return DType::kF64;
    default: return DType::kUnknown;
  }
}

}  // namespace qs
