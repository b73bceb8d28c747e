#include "model/weight_source.h"

#include <cstring>

namespace qs {

Result<const TensorView*> WeightSource::Get(const std::string& name) {
  const TensorView* t = ck_->Find(name);
  if (!t) return NotFound("tensor '" + name + "' is missing from the checkpoint");
  used_.insert(name);
  return t;
}

Result<WeightMatrix> WeightSource::Matrix(const std::string& name, int64_t rows, int64_t cols) {
  QS_ASSIGN_OR_RETURN(const TensorView* t, Get(name));
  const std::string where = ck_->FileOf(name) + ": tensor '" + name + "'";
  if (t->shape.size() != 2 || t->shape[0] != rows || t->shape[1] != cols)
    return InvalidArgument(where + " has shape " + ShapeToString(t->shape) + " but config.json implies [" +
                           std::to_string(rows) + ", " + std::to_string(cols) + "]");
  WeightMatrix w;
  w.name = name;
  w.dtype = t->dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = t->data;
  switch (t->dtype) {
    case DType::kF32: case DType::kF16: case DType::kBF16: break;
    case DType::kF8E4M3: {
      const std::string sname = name + "_scale_inv";
      const TensorView* s = ck_->Find(sname);
      if (!s) return NotFound(where + " is F8_E4M3 but its scale tensor '" + sname + "' is missing");
      used_.insert(sname);
      const int64_t br = cfg_.fp8_block_rows, bc = cfg_.fp8_block_cols;
      const int64_t sr = (rows + br - 1) / br, sc = (cols + bc - 1) / bc;
      if (s->dtype != DType::kF32 || s->shape.size() != 2 || s->shape[0] != sr || s->shape[1] != sc)
        return InvalidArgument(ck_->FileOf(sname) + ": tensor '" + sname + "' must be F32 [" + std::to_string(sr) + ", " +
                               std::to_string(sc) + "] (" + std::to_string(br) + "x" + std::to_string(bc) +
                               " blocks), got " + DTypeName(s->dtype) + " " + ShapeToString(s->shape));
      if (reinterpret_cast<uintptr_t>(s->data) % alignof(float) != 0)
        return InvalidArgument(ck_->FileOf(sname) + ": tensor '" + sname + "' is not 4-byte aligned");
      w.scale_inv = reinterpret_cast<const float*>(s->data);
      w.block_rows = br;
      w.block_cols = bc;
      w.scale_cols = sc;
      break;
    }
    default:
      return InvalidArgument(where + " has dtype " + DTypeName(t->dtype) + ", which is not a supported weight type");
  }
  w.row_stride = static_cast<size_t>(cols) * DTypeSize(t->dtype);
  if (t->dtype == DType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0)
    return InvalidArgument(where + " is F32 but not 4-byte aligned in the file");
  return w;
}

Result<std::vector<float>> WeightSource::Vector(const std::string& name, int64_t n) {
  QS_ASSIGN_OR_RETURN(const TensorView* t, Get(name));
  const std::string where = ck_->FileOf(name) + ": tensor '" + name + "'";
  if (t->shape.size() != 1 || t->shape[0] != n)
    return InvalidArgument(where + " has shape " + ShapeToString(t->shape) + " but config.json implies [" +
                           std::to_string(n) + "]");
  if (t->dtype != DType::kF32 && t->dtype != DType::kF16 && t->dtype != DType::kBF16)
    return InvalidArgument(where + " has dtype " + DTypeName(t->dtype) + "; expected F32, F16 or BF16");
  WeightMatrix w;
  w.name = name;
  w.dtype = t->dtype;
  w.rows = 1;
  w.cols = n;
  w.data = t->data;
  w.row_stride = static_cast<size_t>(n) * DTypeSize(t->dtype);
  std::vector<float> v(static_cast<size_t>(n));
  if (t->dtype == DType::kF32) std::memcpy(v.data(), t->data, v.size() * 4);  // may be unaligned
  else DecodeRow(w, 0, v.data());
  return v;
}

std::vector<std::string> WeightSource::Unused() const {
  std::vector<std::string> out;
  for (const auto& n : ck_->Names())
    if (!used_.count(n)) out.push_back(n);
  return out;
}

}  // namespace qs
