#include "quant/quant.h"

#include <cstring>
#include <string>

#include "quant/fp16.h"

namespace qs {

namespace {

using DequantFn = void (*)(const void*, float*, int64_t);
using QuantFn = void (*)(const float*, void*, int64_t);

void DequantF32(const void* src, float* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }
void QuantF32(const float* src, void* dst, int64_t n) { std::memcpy(dst, src, static_cast<size_t>(n) * 4); }

void DequantF16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    dst[i] = F16ToF32(h);
  }
}
void QuantF16(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = F32ToF16(src[i]);
    std::memcpy(p + 2 * i, &h, 2);
  }
}
void DequantBF16(const void* src, float* dst, int64_t n) {
  const auto* p = static_cast<const uint8_t*>(src);
  for (int64_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, p + 2 * i, 2);
    dst[i] = Bf16ToF32(h);
  }
}
void QuantBF16(const float* src, void* dst, int64_t n) {
  auto* p = static_cast<uint8_t*>(dst);
  for (int64_t i = 0; i < n; ++i) {
    const uint16_t h = F32ToBf16(src[i]);
    std::memcpy(p + 2 * i, &h, 2);
  }
}

struct Fns {
  DequantFn dequant;
  QuantFn quant;
};

Fns Lookup(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return {DequantF32, QuantF32};
    case GgmlType::F16: return {DequantF16, QuantF16};
    case GgmlType::BF16: return {DequantBF16, QuantBF16};
    case GgmlType::Q4_0: return {ref::DequantizeQ4_0, ref::QuantizeQ4_0};
    case GgmlType::Q4_1: return {ref::DequantizeQ4_1, ref::QuantizeQ4_1};
    case GgmlType::Q5_0: return {ref::DequantizeQ5_0, ref::QuantizeQ5_0};
    case GgmlType::Q5_1: return {ref::DequantizeQ5_1, ref::QuantizeQ5_1};
    case GgmlType::Q8_0: return {ref::DequantizeQ8_0, ref::QuantizeQ8_0};
    case GgmlType::Q8_1: return {ref::DequantizeQ8_1, ref::QuantizeQ8_1};
    case GgmlType::Q2_K: return {ref::DequantizeQ2_K, ref::QuantizeQ2_K};
    case GgmlType::Q3_K: return {ref::DequantizeQ3_K, ref::QuantizeQ3_K};
    case GgmlType::Q4_K: return {ref::DequantizeQ4_K, ref::QuantizeQ4_K};
    case GgmlType::Q5_K: return {ref::DequantizeQ5_K, ref::QuantizeQ5_K};
    case GgmlType::Q6_K: return {ref::DequantizeQ6_K, ref::QuantizeQ6_K};
    case GgmlType::Q8_K: return {ref::DequantizeQ8_K, ref::QuantizeQ8_K};
    case GgmlType::IQ1_S: return {ref::DequantizeIQ1_S, nullptr};
    case GgmlType::IQ1_M: return {ref::DequantizeIQ1_M, nullptr};
    case GgmlType::IQ2_XXS: return {ref::DequantizeIQ2_XXS, nullptr};
    case GgmlType::IQ2_XS: return {ref::DequantizeIQ2_XS, nullptr};
    case GgmlType::IQ2_S: return {ref::DequantizeIQ2_S, nullptr};
    case GgmlType::IQ3_XXS: return {ref::DequantizeIQ3_XXS, nullptr};
    case GgmlType::IQ3_S: return {ref::DequantizeIQ3_S, nullptr};
    case GgmlType::IQ4_NL: return {ref::DequantizeIQ4_NL, nullptr};
    case GgmlType::IQ4_XS: return {ref::DequantizeIQ4_XS, nullptr};
    default: return {nullptr, nullptr};
  }
}

Status CheckCount(GgmlType t, int64_t n, const char* op) {
  const GgmlTypeTraits& tr = GgmlTraits(t);
  if (!tr.known) return Unsupported(std::string(op) + ": unknown ggml type " + std::to_string(static_cast<uint32_t>(t)));
  if (n < 0 || n % tr.block_size != 0)
    return InvalidArgument(std::string(op) + ": " + std::to_string(n) + " elements is not a whole number of " + tr.name +
                           " blocks (" + std::to_string(tr.block_size) + " each)");
  return Status::Ok();
}

}  // namespace

bool CanDequantize(GgmlType t) { return Lookup(t).dequant != nullptr; }
bool CanQuantize(GgmlType t) { return Lookup(t).quant != nullptr; }

Status DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  QS_RETURN_IF_ERROR(CheckCount(type, n, "DequantizeRow"));
  const Fns f = Lookup(type);
  if (!f.dequant) return Unsupported(std::string("DequantizeRow: no dequantizer for ggml type ") + GgmlTypeName(type));
  f.dequant(src, dst, n);
  return Status::Ok();
}

Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n) {
  QS_RETURN_IF_ERROR(CheckCount(type, n, "QuantizeRow"));
  const Fns f = Lookup(type);
  if (!f.quant) return Unsupported(std::string("QuantizeRow: no quantizer for ggml type ") + GgmlTypeName(type));
  f.quant(src, dst, n);
  return Status::Ok();
}

}  // namespace qs
