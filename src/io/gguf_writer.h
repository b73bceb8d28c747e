// Streaming GGUF v3 writer (layout in io/gguf.h).
//
// Usage: set metadata and declare every tensor (name, type, ne) first; Begin() then writes the
// header, metadata and tensor infos with precomputed offsets, and the tensor data follows one
// tensor at a time (optionally in pieces), so converting a huge model never holds more than the
// piece being written. Layout matches llama.cpp's writers (gguf-py, gguf_write_to_file): tensor
// data laid out in declaration order, each tensor padded with zeros to the alignment, the data
// section itself aligned.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "io/gguf.h"
#include "tensor/ggml_type.h"

namespace qs {

inline constexpr size_t kGgmlMaxNameLength = 63;  // GGML_MAX_NAME (64) minus the NUL: llama.cpp limit

class GgufWriter {
 public:
  explicit GgufWriter(size_t alignment = kGgufDefaultAlignment);
  ~GgufWriter();
  GgufWriter(const GgufWriter&) = delete;
  GgufWriter& operator=(const GgufWriter&) = delete;

  // ---- metadata (written in the order first set; setting a key again replaces its value) ----
  void SetU8(std::string_view key, uint8_t v);
  void SetI8(std::string_view key, int8_t v);
  void SetU16(std::string_view key, uint16_t v);
  void SetI16(std::string_view key, int16_t v);
  void SetU32(std::string_view key, uint32_t v);
  void SetI32(std::string_view key, int32_t v);
  void SetU64(std::string_view key, uint64_t v);
  void SetI64(std::string_view key, int64_t v);
  void SetF32(std::string_view key, float v);
  void SetF64(std::string_view key, double v);
  void SetBool(std::string_view key, bool v);
  void SetString(std::string_view key, std::string_view v);
  void SetStringArray(std::string_view key, const std::vector<std::string>& v);
  void SetStringArray(std::string_view key, const std::vector<std::string_view>& v);
  // Numeric / bool array: `n` elements of `elem` (a scalar type), raw little-endian at `data`.
  Status SetArray(std::string_view key, GgufValueType elem, const void* data, uint64_t n);
  void SetI32Array(std::string_view key, const std::vector<int32_t>& v);
  void SetU32Array(std::string_view key, const std::vector<uint32_t>& v);
  void SetI64Array(std::string_view key, const std::vector<int64_t>& v);
  void SetF32Array(std::string_view key, const std::vector<float>& v);
  // Any value read from a GgufFile (all types, nested arrays included).
  Status SetValue(std::string_view key, const GgufValue& v);
  // Every key of `f` whose name starts with `prefix` (all keys by default), in file order
  // (general.alignment included when copied: it must then match ours).
  Status CopyMetadata(const GgufFile& f, std::string_view prefix = "");
  bool Remove(std::string_view key);
  bool Has(std::string_view key) const { return kv_index_.count(std::string(key)) != 0; }

  // ---- tensors ----
  // Declares the next tensor. Checks: unique name of at most 63 bytes, known type, 1..4 dims,
  // ne >= 0, ne[0] a multiple of the block size.
  Status AddTensor(std::string_view name, GgmlType type, const std::vector<int64_t>& ne);
  size_t tensor_count() const { return tensors_.size(); }
  // Data offset (relative to the data section) and byte size of declared tensor i.
  uint64_t tensor_offset(size_t i) const { return tensors_.at(i).offset; }
  size_t tensor_nbytes(size_t i) const { return tensors_.at(i).nbytes; }

  // ---- output ----
  // Creates `path` and writes everything up to the data section. Nothing can be declared after.
  Status Begin(const std::string& path);
  // The whole data of the next tensor, which must be called `name`.
  Status WriteTensor(std::string_view name, const void* data, size_t nbytes);
  // The next `nbytes` of tensor data, for tensors written in pieces; a tensor is complete (and
  // padded) once its byte size has been written; pieces never span two tensors.
  Status WriteTensorChunk(const void* data, size_t nbytes);
  // Checks every tensor was written completely, flushes and closes. Unfinished files are closed
  // by the destructor but left incomplete.
  Status Finish();

  // Everything Begin() would write before the data section (for tests and tools).
  Result<std::string> SerializeHeader() const;

 private:
  struct Kv {
    std::string key;
    std::string payload;  // value type u32 + encoded value
  };
  struct Tensor {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    uint64_t offset;
    size_t nbytes;
  };
  void Put(std::string_view key, std::string payload);
  Status Write(const void* p, size_t n);
  Status PadTo(uint64_t pos);

  size_t alignment_;
  std::vector<Kv> kvs_;
  std::unordered_map<std::string, size_t> kv_index_;
  std::vector<Tensor> tensors_;
  std::unordered_map<std::string, size_t> tensor_index_;
  uint64_t data_size_ = 0;  // padded size of the data section so far

  std::string path_;
  std::FILE* out_ = nullptr;
  bool begun_ = false;
  size_t next_tensor_ = 0;    // tensor being written
  size_t written_in_tensor_ = 0;
  uint64_t data_written_ = 0;  // bytes written into the data section, padding included
};

}  // namespace qs
