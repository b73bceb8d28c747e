// Element types and tensor views (a pointer, a dtype, a shape). No maths here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qs {

enum class DType : uint8_t {
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // e4m3fn (no inf, NaN at 0x7F/0xFF), blockwise scales travel as a separate tensor
  kF8E8M0,  // ue8m0: byte b -> 2^(b - 127) (0xFF NaN); the power-of-two block scales of DeepSeek-V4
  // FP4 e2m1 packed two per byte, low nibble = even column (DeepSeek-V4's routed experts, stored
  // as I8 [rows, cols / 2] with ue8m0 scales per 1x32 group). Never a safetensors dtype itself:
  // WeightSource turns such an I8 tensor into a WeightMatrix of this dtype. DTypeSize is 0.
  kF4E2M1,
  kI32,
  kI64,
  kU8,
  kI8,
  kF64,
  kGgmlBlock,  // a ggml block-quantized format (Q4_0, Q6_K, ...); the GgmlType travels beside it
  kUnknown,
};

// Bytes per element for plain (non-block-quantized) dtypes.
size_t DTypeSize(DType t);
const char* DTypeName(DType t);
// Safetensors dtype strings ("F32", "BF16", "F8_E4M3", ...). kUnknown if not recognised.
DType DTypeFromSafetensors(std::string_view s);

using Shape = std::vector<int64_t>;
std::string ShapeToString(const Shape& s);
int64_t NumElements(const Shape& s);

// A non-owning view of a tensor stored somewhere (usually an mmapped file).
struct TensorView {
  std::string name;
  DType dtype = DType::kUnknown;
  Shape shape;
  const uint8_t* data = nullptr;
  size_t nbytes = 0;

  int64_t dim(int i) const { return shape.at(static_cast<size_t>(i)); }
  int64_t numel() const { return NumElements(shape); }
};

}  // namespace qs
