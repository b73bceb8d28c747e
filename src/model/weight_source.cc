#include "model/weight_source.h"

#include <cstring>

#include "model/gguf_names.h"
#include "quant/fp4.h"
#include "quant/quant.h"

namespace qs {

void WeightSource::Add(WeightTensor t) {
  index_[t.name] = tensors_.size();
  tensors_.push_back(std::move(t));
}

WeightSource::WeightSource(std::unique_ptr<Checkpoint> ck, const ModelConfig& cfg) : ck_(std::move(ck)), cfg_(cfg) {
  for (const auto& n : ck_->Names()) {
    const TensorView* v = ck_->Find(n);
    WeightTensor t;
    t.name = n;
    t.file = ck_->FileOf(n);
    t.file_name = n;
    t.dtype = v->dtype;
    t.shape = v->shape;
    t.data = v->data;
    t.nbytes = v->nbytes;
    Add(std::move(t));
  }
}

Result<std::unique_ptr<WeightSource>> WeightSource::FromGguf(std::unique_ptr<GgufFile> gguf, const ModelConfig& cfg) {
  std::unique_ptr<WeightSource> src(new WeightSource(cfg));
  for (const GgufTensorInfo& ti : gguf->tensors()) {
    WeightTensor t;
    t.file = gguf->path();
    t.file_name = ti.name;
    const DType plain = GgmlToDType(ti.type);
    if (plain == DType::kF32 || plain == DType::kF16 || plain == DType::kBF16) {
      t.dtype = plain;
    } else if (CanDequantize(ti.type)) {
      t.dtype = DType::kGgmlBlock;
      t.qtype = ti.type;
    } else {
      t.dtype = DType::kUnknown;  // reported if an architecture asks for it
      t.qtype = ti.type;
    }
    t.shape = ti.RowMajorShape();
    t.data = ti.data;
    t.nbytes = ti.nbytes;
    auto hf = GgufToHfName(ti.name);
    if (!hf) {  // GGUF-only (rope_freqs.weight) or unknown: keep the GGUF name
      t.name = ti.name;
      src->Add(std::move(t));
      continue;
    }
    if (!hf->stacked) {
      t.name = hf->name;
      src->Add(std::move(t));
      continue;
    }
    // Stacked experts: ne = {in, out, n_expert}; row-major [n_expert, out, in]. One view each.
    if (t.shape.size() != 3 || t.shape[0] <= 0)
      return InvalidArgument(gguf->path() + ": tensor '" + ti.name + "' should be 3-D [n_expert, out, in], got " +
                             ShapeToString(t.shape));
    const int64_t n_exp = t.shape[0];
    const size_t per = ti.nbytes / static_cast<size_t>(n_exp);
    if (per * static_cast<size_t>(n_exp) != ti.nbytes)
      return InvalidArgument(gguf->path() + ": tensor '" + ti.name + "' does not split evenly into " +
                             std::to_string(n_exp) + " experts");
    for (int64_t e = 0; e < n_exp; ++e) {
      WeightTensor x = t;
      x.name = ExpertName(hf->name, e);
      x.file_name = ti.name + "[expert " + std::to_string(e) + "]";
      x.shape = {t.shape[1], t.shape[2]};
      x.data = ti.data + per * static_cast<size_t>(e);
      x.nbytes = per;
      src->Add(std::move(x));
    }
  }
  src->gguf_ = std::move(gguf);
  // rope_freqs.weight was read into the config (llama3 scaling); it is not a weight.
  if (src->Has("rope_freqs.weight")) src->used_.insert("rope_freqs.weight");
  return src;
}

std::string WeightSource::Where(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return (gguf_ ? gguf_->path() : std::string("checkpoint")) + ": tensor '" + name + "'";
  const WeightTensor& t = tensors_[it->second];
  return t.file + ": tensor '" + t.file_name + "'";
}

Result<const WeightTensor*> WeightSource::Get(const std::string& name) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    if (gguf_) {
      auto g = HfToGgufName(name);
      return NotFound(gguf_->path() + ": tensor '" + (g ? g->name : name) + "' (" + name + ") is missing");
    }
    return NotFound("tensor '" + name + "' is missing from the checkpoint");
  }
  used_.insert(name);
  return &tensors_[it->second];
}

Result<WeightMatrix> WeightSource::MatrixOf(const WeightTensor& t, int64_t rows, int64_t cols, const std::string& what) {
  const std::string where = t.file + ": tensor '" + t.file_name + "'";
  WeightMatrix w;
  w.name = t.name;
  w.dtype = t.dtype;
  w.rows = rows;
  w.cols = cols;
  w.data = t.data;
  switch (t.dtype) {
    case DType::kF32: case DType::kF16: case DType::kBF16:
      w.row_stride = static_cast<size_t>(cols) * DTypeSize(t.dtype);
      break;
    case DType::kGgmlBlock: {
      Result<size_t> rs = GgmlRowSize(t.qtype, cols);
      if (!rs.ok()) return InvalidArgument(where + ": " + rs.status().message());
      w.qtype = t.qtype;
      w.row_stride = rs.value();
      break;
    }
    case DType::kF8E4M3: {
      if (gguf_) return InvalidArgument(where + " is F8_E4M3, which GGUF files do not carry");
      const int64_t br = cfg_.fp8_block_rows, bc = cfg_.fp8_block_cols;
      QS_ASSIGN_OR_RETURN(w.scale_inv, BlockScales(t, (rows + br - 1) / br, (cols + bc - 1) / bc,
                                                    std::to_string(br) + "x" + std::to_string(bc) + " blocks"));
      w.block_rows = br;
      w.block_cols = bc;
      w.scale_cols = (cols + bc - 1) / bc;
      w.row_stride = static_cast<size_t>(cols);
      break;
    }
    case DType::kI8: {
      // DeepSeek-V4's routed experts: packed FP4 e2m1, two per byte (low nibble = even column),
      // with an F8_E8M0 scale per 1x32 group (model.py Linear with float4_e2m1fn_x2).
      if (gguf_ || cols % 32 != 0)
        return InvalidArgument(where + " is I8, which is only read as packed FP4 (a multiple of 32 columns)");
      QS_ASSIGN_OR_RETURN(w.scale_inv, BlockScales(t, rows, cols / 32, "1x32 groups"));
      w.dtype = DType::kF4E2M1;
      w.block_rows = 1;
      w.block_cols = 32;
      w.scale_cols = cols / 32;
      w.row_stride = static_cast<size_t>(cols / 2);
      break;
    }
    default:
      return InvalidArgument(where + " has type " +
                             (t.dtype == DType::kUnknown && gguf_ ? std::string(GgmlTypeName(t.qtype)) : DTypeName(t.dtype)) +
                             ", which is not a supported weight type" + what);
  }
  if (w.row_stride * static_cast<size_t>(rows) != t.nbytes)
    return InvalidArgument(where + " holds " + std::to_string(t.nbytes) + " bytes, expected " +
                           std::to_string(w.row_stride * static_cast<size_t>(rows)));
  return w;
}

// The scale tensor of a block-quantised weight: `<name>_scale_inv` F32 (the V3 release) or, in
// the V4 release's naming, `<stem>.scale` F8_E8M0 (widened once to F32 here, exact: powers of two).
Result<const float*> WeightSource::BlockScales(const WeightTensor& t, int64_t sr, int64_t sc, const std::string& blocks) {
  const std::string where = t.file + ": tensor '" + t.file_name + "'";
  std::string sname = t.name + "_scale_inv";
  if (!index_.count(sname) && t.name.size() > 7 && t.name.compare(t.name.size() - 7, 7, ".weight") == 0)
    sname = t.name.substr(0, t.name.size() - 7) + ".scale";
  auto it = index_.find(sname);
  if (it == index_.end())
    return NotFound(where + " is " + DTypeName(t.dtype) + " but its scale tensor ('" + t.name + "_scale_inv' or '" +
                    sname + "') is missing");
  const WeightTensor& s = tensors_[it->second];
  used_.insert(sname);
  if ((s.dtype != DType::kF32 && s.dtype != DType::kF8E8M0) || s.shape.size() != 2 || s.shape[0] != sr || s.shape[1] != sc)
    return InvalidArgument(s.file + ": tensor '" + sname + "' must be F32 or F8_E8M0 [" + std::to_string(sr) + ", " +
                           std::to_string(sc) + "] (" + blocks + "), got " + DTypeName(s.dtype) + " " +
                           ShapeToString(s.shape));
  if (s.dtype == DType::kF8E8M0) {
    auto& v = owned_scales_.emplace_back(static_cast<size_t>(sr * sc));
    for (size_t i = 0; i < v.size(); ++i) {
      if (s.data[i] == 0xFF) return InvalidArgument(s.file + ": tensor '" + sname + "' holds the NaN code 0xFF");
      v[i] = Ue8m0ToF32(s.data[i]);
    }
    return static_cast<const float*>(v.data());
  }
  if (reinterpret_cast<uintptr_t>(s.data) % alignof(float) != 0)
    return InvalidArgument(s.file + ": tensor '" + sname + "' is not 4-byte aligned");
  return reinterpret_cast<const float*>(s.data);
}

Result<std::vector<int64_t>> WeightSource::Ints(const std::string& name, int64_t rows, int64_t cols) {
  QS_ASSIGN_OR_RETURN(const WeightTensor* t, Get(name));
  if (t->shape.size() != 2 || t->shape[0] != rows || t->shape[1] != cols)
    return InvalidArgument(t->file + ": tensor '" + t->file_name + "' has shape " + ShapeToString(t->shape) + " but " +
                           origin() + " implies [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  std::vector<int64_t> v(static_cast<size_t>(rows * cols));
  if (t->dtype == DType::kI64 && t->nbytes == v.size() * 8) {
    std::memcpy(v.data(), t->data, t->nbytes);
  } else if (t->dtype == DType::kI32 && t->nbytes == v.size() * 4) {
    for (size_t i = 0; i < v.size(); ++i) {
      int32_t x;
      std::memcpy(&x, t->data + 4 * i, 4);
      v[i] = x;
    }
  } else {
    return InvalidArgument(t->file + ": tensor '" + t->file_name + "' must be I64 or I32, got " + DTypeName(t->dtype));
  }
  return v;
}

Result<WeightMatrix> WeightSource::Matrix(const std::string& name, int64_t rows, int64_t cols) {
  QS_ASSIGN_OR_RETURN(const WeightTensor* t, Get(name));
  const bool packed_fp4 = t->dtype == DType::kI8 && t->shape.size() == 2 && t->shape[0] == rows && t->shape[1] * 2 == cols;
  if (!packed_fp4 && (t->shape.size() != 2 || t->shape[0] != rows || t->shape[1] != cols))
    return InvalidArgument(t->file + ": tensor '" + t->file_name + "' has shape " + ShapeToString(t->shape) + " but " +
                           origin() + " implies [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
  if (t->dtype == DType::kF32 && reinterpret_cast<uintptr_t>(t->data) % alignof(float) != 0)
    return InvalidArgument(t->file + ": tensor '" + t->file_name + "' is F32 but not 4-byte aligned in the file");
  return MatrixOf(*t, rows, cols, "");
}

Result<WeightMatrix> WeightSource::Matrix3D(const std::string& name, int64_t n, int64_t rows, int64_t cols) {
  QS_ASSIGN_OR_RETURN(const WeightTensor* t, Get(name));
  if (t->shape.size() != 3 || t->shape[0] != n || t->shape[1] != rows || t->shape[2] != cols)
    return InvalidArgument(t->file + ": tensor '" + t->file_name + "' has shape " + ShapeToString(t->shape) + " but " +
                           origin() + " implies [" + std::to_string(n) + ", " + std::to_string(rows) + ", " +
                           std::to_string(cols) + "]");
  return MatrixOf(*t, n * rows, cols, "");
}

Result<std::vector<float>> WeightSource::Vector(const std::string& name, int64_t n) {
  QS_ASSIGN_OR_RETURN(const WeightTensor* t, Get(name));
  if (t->shape.size() != 1 || t->shape[0] != n)
    return InvalidArgument(t->file + ": tensor '" + t->file_name + "' has shape " + ShapeToString(t->shape) + " but " +
                           origin() + " implies [" + std::to_string(n) + "]");
  if (t->dtype != DType::kF32 && t->dtype != DType::kF16 && t->dtype != DType::kBF16 && t->dtype != DType::kGgmlBlock)
    return InvalidArgument(t->file + ": tensor '" + t->file_name + "' is " + DTypeName(t->dtype) + "; expected F32, F16 or BF16");
  QS_ASSIGN_OR_RETURN(WeightMatrix w, MatrixOf(*t, 1, n, " for a 1-D tensor"));
  std::vector<float> v(static_cast<size_t>(n));
  if (t->dtype == DType::kF32) std::memcpy(v.data(), t->data, v.size() * 4);  // may be unaligned
  else DecodeRow(w, 0, v.data());
  return v;
}

std::vector<std::string> WeightSource::Unused() const {
  std::vector<std::string> out;
  for (const auto& t : tensors_)
    if (!used_.count(t.name)) out.push_back(t.name);
  return out;
}

}  // namespace qs
