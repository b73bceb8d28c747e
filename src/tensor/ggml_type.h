// ggml tensor types as numbered in GGUF files (ggml.h `enum ggml_type`; numbers are part of the
// file format, so they never change). Block size and bytes per block come from ggml-common.h.
// No maths here: the block layouts and (de)quantizers live in src/quant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tensor/dtype.h"

namespace qs {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  // 4, 5: Q4_2 / Q4_3, removed from ggml
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  // 31..33: Q4_0_4_4 / Q4_0_4_8 / Q4_0_8_8, removed from GGUF files
  TQ1_0 = 34,
  TQ2_0 = 35,
  // 36..38: IQ4_NL_4_4 / _4_8 / _8_8, removed
  MXFP4 = 39,
};

// One past the largest number we know; anything >= this (or a removed number) is unknown.
inline constexpr uint32_t kGgmlTypeCount = 40;

struct GgmlTypeTraits {
  const char* name;     // ggml's type name ("q4_K", "f32", ...); "unknown" when !known
  int64_t block_size;   // elements per block (1 for plain types); 0 when !known
  size_t type_size;     // bytes per block; 0 when !known
  bool known;
};

// Traits of `t`. Unknown or removed numbers give {"unknown", 0, 0, false}.
const GgmlTypeTraits& GgmlTraits(GgmlType t);
inline const char* GgmlTypeName(GgmlType t) { return GgmlTraits(t).name; }
// Whether a raw number read from a file names a type this table knows.
bool GgmlTypeKnown(uint32_t raw);
// ggml's type name (case-insensitive, "Q4_K" or "q4_K") -> type.
std::optional<GgmlType> GgmlTypeFromName(std::string_view name);

// Bytes for a row of n elements. Error if the type is unknown, n < 0, or n is not a multiple of
// the block size (ggml_row_size asserts on that; we report it).
Result<size_t> GgmlRowSize(GgmlType t, int64_t n);
// Bytes for a whole tensor with ggml dims ne (ne[0] = row length). Errors as GgmlRowSize, plus
// negative dims and size overflow.
Result<size_t> GgmlTensorBytes(GgmlType t, const std::vector<int64_t>& ne);

// The plain element type for F32/F16/BF16/I8/I32/I64/F64 (these are stored exactly like the
// safetensors dtypes); kUnknown for block-quantized types and I16.
DType GgmlToDType(GgmlType t);

}  // namespace qs
