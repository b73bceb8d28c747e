// Safetensors: u64 LE header length, JSON header {name: {dtype, shape, data_offsets}}, data.
// The parser treats every byte as hostile: lengths, offsets, shapes and dtypes are checked
// before any view into the data is handed out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "io/mapped_file.h"
#include "tensor/dtype.h"

namespace qs {

// Parses a complete safetensors image held in memory. Views point into `data`.
// `file` names the file in error messages.
Result<std::vector<TensorView>> ParseSafetensors(const uint8_t* data, size_t size,
                                                 const std::string& file);

class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* Find(const std::string& name) const;
  const std::string& path() const { return file_->path(); }

 private:
  std::unique_ptr<MappedFile> file_;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

// Writes tensors to a safetensors file (header padded to 8 bytes, __metadata__ format "pt").
struct TensorToWrite {
  std::string name;
  DType dtype;
  Shape shape;
  std::vector<uint8_t> bytes;
};
Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace qs
