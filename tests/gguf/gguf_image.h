// Hand-built GGUF images for reader tests, including layouts our writer refuses to produce
// (duplicate keys, 5-D tensors, bad offsets, ...).
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "io/gguf.h"

namespace qs::test {

class GgufImage {
 public:
  GgufImage& U8(uint8_t v) { return Raw(&v, 1); }
  GgufImage& U32(uint32_t v) { return Raw(&v, 4); }
  GgufImage& U64(uint64_t v) { return Raw(&v, 8); }
  GgufImage& F32(float v) { return Raw(&v, 4); }
  GgufImage& Str(std::string_view s) {
    U64(s.size());
    b_.append(s.data(), s.size());
    return *this;
  }
  GgufImage& Raw(const void* p, size_t n) {
    b_.append(static_cast<const char*>(p), n);
    return *this;
  }
  GgufImage& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    b_.append("GGUF", 4);
    U32(version);
    U64(n_tensors);
    return U64(n_kv);
  }
  GgufImage& KvU32(std::string_view key, uint32_t v) { return Str(key).U32(4).U32(v); }
  GgufImage& KvStr(std::string_view key, std::string_view v) { return Str(key).U32(8).Str(v); }
  GgufImage& Tensor(std::string_view name, const std::vector<uint64_t>& ne, uint32_t type, uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) U64(d);
    return U32(type).U64(offset);
  }
  GgufImage& PadTo(size_t align) {
    while (b_.size() % align) b_.push_back('\0');
    return *this;
  }
  GgufImage& Zeros(size_t n) {
    b_.append(n, '\0');
    return *this;
  }
  const std::string& bytes() const { return b_; }
  std::string& bytes() { return b_; }

  Result<std::unique_ptr<GgufFile>> Parse() const { return ParseBytes(b_); }
  static Result<std::unique_ptr<GgufFile>> ParseBytes(const std::string& b) {
    return GgufFile::Parse(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "test.gguf");
  }

 private:
  std::string b_;
};

}  // namespace qs::test
