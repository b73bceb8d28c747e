// GGUF reader (llama.cpp's model file format; spec: ggml/docs/gguf.md).
//
//   magic "GGUF" | version u32 | tensor_count u64 | kv_count u64
//   kv_count  x (key: string, value_type u32, value)
//   tensor_count x (name: string, n_dims u32, ne[n_dims] u64, ggml_type u32, offset u64)
//   padding to `general.alignment` (default 32) | tensor data (offsets relative to here)
//
// string = u64 length + bytes (no NUL); array = element type u32 + count u64 + elements.
// Everything is little-endian; v2 and v3 share this layout (v3 only added big-endian files, which
// we reject). v1 (32-bit counts) is rejected.
//
// The parser treats every byte as hostile: counts, lengths, dims, types and offsets are checked
// against the file size before memory is reserved or a view is handed out. Values and tensor data
// are views into the (mapped) file; nothing is copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "io/mapped_file.h"
#include "tensor/dtype.h"
#include "tensor/ggml_type.h"

namespace qs {

inline constexpr size_t kGgufDefaultAlignment = 32;  // GGUF_DEFAULT_ALIGNMENT
inline constexpr int kGgufMaxDims = 4;               // GGML_MAX_DIMS
inline constexpr int kGgufMaxArrayDepth = 8;         // arrays of arrays: deeper nesting is rejected

enum class GgufValueType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7,
  kString = 8, kArray = 9, kU64 = 10, kI64 = 11, kF64 = 12,
};
const char* GgufValueTypeName(GgufValueType t);  // "u8", ..., "string", "array"; "unknown"
// Bytes of one scalar of type t (bool = 1); 0 for kString / kArray / unknown.
size_t GgufScalarSize(GgufValueType t);

struct GgufValue {
  GgufValueType type = GgufValueType::kU8;
  GgufValueType array_type = GgufValueType::kU8;  // element type when type == kArray
  uint64_t array_len = 0;
  std::string_view str;                    // kString
  std::vector<std::string_view> strings;   // kArray of kString
  const uint8_t* array_data = nullptr;     // raw LE elements for numeric / bool arrays (into the file)
  std::vector<GgufValue> arrays;           // kArray of kArray: the inner arrays, in order
  uint64_t scalar_bits = 0;                // numeric / bool scalars: raw LE bits, zero-extended

  std::optional<int64_t> AsInt() const;    // any integer or bool scalar (u64 > INT64_MAX: nullopt)
  std::optional<double> AsFloat() const;   // any numeric scalar (integers converted)
  std::optional<bool> AsBool() const;      // bool, or an integer scalar (non-zero = true)
  std::vector<int64_t> IntArray() const;   // numeric / bool array -> int64 (floats truncated); else {}
  std::vector<float> FloatArray() const;   // numeric / bool array -> float; else {}
  bool IsArrayOf(GgufValueType elem) const { return type == GgufValueType::kArray && array_type == elem; }
  // Human-readable summary for logs: "u32 4096", "string \"llama\"", "array<string>[32000]".
  std::string DebugString() const;
};

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::F32;
  std::vector<int64_t> ne;  // ggml order: ne[0] = innermost (row length)
  uint64_t offset = 0;      // relative to the data section
  const uint8_t* data = nullptr;  // points into the mapped file
  size_t nbytes = 0;

  int64_t numel() const;
  // Row-major (numpy / safetensors) shape: ne reversed. An HF [out, in] matrix is ne {in, out}.
  Shape RowMajorShape() const;
};

class GgufFile {
 public:
  // Maps the file and parses it; views stay valid while the GgufFile lives.
  static Result<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses an image held by the caller (must outlive the result). `name` is used in messages.
  static Result<std::unique_ptr<GgufFile>> Parse(const uint8_t* data, size_t size, const std::string& name);

  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  const uint8_t* file_data() const { return data_; }
  size_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

  const GgufValue* Find(std::string_view key) const;
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }  // file order
  // Typed getters: the error names the key and the file when it is missing or of the wrong type.
  Result<std::string> GetString(std::string_view key) const;
  Result<int64_t> GetInt(std::string_view key) const;     // any integer (or bool) scalar
  Result<double> GetFloat(std::string_view key) const;    // any numeric scalar
  Result<bool> GetBool(std::string_view key) const;
  // Missing key -> `def`; present with the wrong type -> error.
  Result<int64_t> GetIntOr(std::string_view key, int64_t def) const;
  Result<double> GetFloatOr(std::string_view key, double def) const;
  // The array value for `key`, which must hold elements of type `elem`.
  Result<const GgufValue*> GetArray(std::string_view key, GgufValueType elem) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  Status ParseImpl();

  std::unique_ptr<MappedFile> file_;  // null for Parse()
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  size_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string, size_t> key_index_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace qs
