#include "io/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace qs {

namespace {

constexpr uint32_t kVersion = 3;

void PutRaw(std::string* s, const void* p, size_t n) { s->append(static_cast<const char*>(p), n); }
void PutU32(std::string* s, uint32_t v) { PutRaw(s, &v, 4); }  // little-endian hosts only
void PutU64(std::string* s, uint64_t v) { PutRaw(s, &v, 8); }
void PutStr(std::string* s, std::string_view v) {
  PutU64(s, v.size());
  s->append(v.data(), v.size());
}
template <typename T>
std::string Scalar(GgufValueType t, T v) {
  std::string s;
  PutU32(&s, static_cast<uint32_t>(t));
  PutRaw(&s, &v, sizeof v);
  return s;
}
template <typename Strings>
std::string StringArray(const Strings& v) {
  std::string s;
  PutU32(&s, static_cast<uint32_t>(GgufValueType::kArray));
  PutU32(&s, static_cast<uint32_t>(GgufValueType::kString));
  PutU64(&s, v.size());
  for (const auto& x : v) PutStr(&s, x);
  return s;
}

// Encodes `v` without its type tag (the caller wrote it, or it is implied by an array).
Status EncodeBody(const GgufValue& v, int depth, const std::string& where, std::string* s) {
  if (const size_t sz = GgufScalarSize(v.type)) {
    PutRaw(s, &v.scalar_bits, sz);
    return Status::Ok();
  }
  if (v.type == GgufValueType::kString) {
    PutStr(s, v.str);
    return Status::Ok();
  }
  if (v.type != GgufValueType::kArray)
    return InvalidArgument(where + ": unknown value type " + std::to_string(static_cast<uint32_t>(v.type)));
  if (depth >= kGgufMaxArrayDepth) return InvalidArgument(where + ": arrays nested too deeply");
  PutU32(s, static_cast<uint32_t>(v.array_type));
  PutU64(s, v.array_len);
  if (const size_t sz = GgufScalarSize(v.array_type)) {
    if (v.array_len > 0 && !v.array_data) return InvalidArgument(where + ": numeric array without data");
    PutRaw(s, v.array_data, v.array_len * sz);
  } else if (v.array_type == GgufValueType::kString) {
    if (v.strings.size() != v.array_len) return InvalidArgument(where + ": array_len disagrees with strings");
    for (std::string_view x : v.strings) PutStr(s, x);
  } else if (v.array_type == GgufValueType::kArray) {
    if (v.arrays.size() != v.array_len) return InvalidArgument(where + ": array_len disagrees with arrays");
    for (const GgufValue& inner : v.arrays) {
      if (inner.type != GgufValueType::kArray) return InvalidArgument(where + ": element of an array of arrays is not an array");
      // Inner arrays carry their own element type and count, not a value type tag.
      QS_RETURN_IF_ERROR(EncodeBody(inner, depth + 1, where, s));
    }
  } else {
    return InvalidArgument(where + ": unknown array element type " + std::to_string(static_cast<uint32_t>(v.array_type)));
  }
  return Status::Ok();
}

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

GgufWriter::GgufWriter(size_t alignment) : alignment_(alignment) {
  QS_CHECK_MSG(alignment > 0 && (alignment & (alignment - 1)) == 0, "GGUF alignment must be a power of two");
}

GgufWriter::~GgufWriter() {
  if (out_) std::fclose(out_);
}

void GgufWriter::Put(std::string_view key, std::string payload) {
  auto it = kv_index_.find(std::string(key));
  if (it != kv_index_.end()) {
    kvs_[it->second].payload = std::move(payload);
    return;
  }
  kv_index_.emplace(std::string(key), kvs_.size());
  kvs_.push_back({std::string(key), std::move(payload)});
}

void GgufWriter::SetU8(std::string_view k, uint8_t v) { Put(k, Scalar(GgufValueType::kU8, v)); }
void GgufWriter::SetI8(std::string_view k, int8_t v) { Put(k, Scalar(GgufValueType::kI8, v)); }
void GgufWriter::SetU16(std::string_view k, uint16_t v) { Put(k, Scalar(GgufValueType::kU16, v)); }
void GgufWriter::SetI16(std::string_view k, int16_t v) { Put(k, Scalar(GgufValueType::kI16, v)); }
void GgufWriter::SetU32(std::string_view k, uint32_t v) { Put(k, Scalar(GgufValueType::kU32, v)); }
void GgufWriter::SetI32(std::string_view k, int32_t v) { Put(k, Scalar(GgufValueType::kI32, v)); }
void GgufWriter::SetU64(std::string_view k, uint64_t v) { Put(k, Scalar(GgufValueType::kU64, v)); }
void GgufWriter::SetI64(std::string_view k, int64_t v) { Put(k, Scalar(GgufValueType::kI64, v)); }
void GgufWriter::SetF32(std::string_view k, float v) { Put(k, Scalar(GgufValueType::kF32, v)); }
void GgufWriter::SetF64(std::string_view k, double v) { Put(k, Scalar(GgufValueType::kF64, v)); }
void GgufWriter::SetBool(std::string_view k, bool v) { Put(k, Scalar(GgufValueType::kBool, static_cast<uint8_t>(v ? 1 : 0))); }

void GgufWriter::SetString(std::string_view k, std::string_view v) {
  std::string s;
  PutU32(&s, static_cast<uint32_t>(GgufValueType::kString));
  PutStr(&s, v);
  Put(k, std::move(s));
}

void GgufWriter::SetStringArray(std::string_view k, const std::vector<std::string>& v) { Put(k, StringArray(v)); }
void GgufWriter::SetStringArray(std::string_view k, const std::vector<std::string_view>& v) { Put(k, StringArray(v)); }

Status GgufWriter::SetArray(std::string_view key, GgufValueType elem, const void* data, uint64_t n) {
  const size_t sz = GgufScalarSize(elem);
  if (sz == 0)
    return InvalidArgument("GGUF key '" + std::string(key) + "': SetArray needs a numeric or bool element type, got " +
                           GgufValueTypeName(elem));
  if (n > 0 && !data) return InvalidArgument("GGUF key '" + std::string(key) + "': array data is null");
  std::string s;
  PutU32(&s, static_cast<uint32_t>(GgufValueType::kArray));
  PutU32(&s, static_cast<uint32_t>(elem));
  PutU64(&s, n);
  PutRaw(&s, data, n * sz);
  Put(key, std::move(s));
  return Status::Ok();
}

// Element types match their array type, so these cannot fail.
void GgufWriter::SetI32Array(std::string_view k, const std::vector<int32_t>& v) {
  QS_CHECK(SetArray(k, GgufValueType::kI32, v.data(), v.size()).ok());
}
void GgufWriter::SetU32Array(std::string_view k, const std::vector<uint32_t>& v) {
  QS_CHECK(SetArray(k, GgufValueType::kU32, v.data(), v.size()).ok());
}
void GgufWriter::SetI64Array(std::string_view k, const std::vector<int64_t>& v) {
  QS_CHECK(SetArray(k, GgufValueType::kI64, v.data(), v.size()).ok());
}
void GgufWriter::SetF32Array(std::string_view k, const std::vector<float>& v) {
  QS_CHECK(SetArray(k, GgufValueType::kF32, v.data(), v.size()).ok());
}

Status GgufWriter::SetValue(std::string_view key, const GgufValue& v) {
  std::string s;
  PutU32(&s, static_cast<uint32_t>(v.type));
  QS_RETURN_IF_ERROR(EncodeBody(v, 0, "GGUF key '" + std::string(key) + "'", &s));
  Put(key, std::move(s));
  return Status::Ok();
}

Status GgufWriter::CopyMetadata(const GgufFile& f, std::string_view prefix) {
  for (const auto& [k, v] : f.metadata())
    if (k.compare(0, prefix.size(), prefix) == 0) QS_RETURN_IF_ERROR(SetValue(k, v).With(f.path()));
  return Status::Ok();
}

bool GgufWriter::Remove(std::string_view key) {
  auto it = kv_index_.find(std::string(key));
  if (it == kv_index_.end()) return false;
  kvs_.erase(kvs_.begin() + static_cast<std::ptrdiff_t>(it->second));
  kv_index_.clear();
  for (size_t i = 0; i < kvs_.size(); ++i) kv_index_.emplace(kvs_[i].key, i);
  return true;
}

Status GgufWriter::AddTensor(std::string_view name, GgmlType type, const std::vector<int64_t>& ne) {
  const std::string where = "GGUF tensor '" + std::string(name) + "'";
  if (begun_) return InvalidArgument(where + ": tensors must be declared before Begin()");
  if (name.empty() || name.size() > kGgmlMaxNameLength)
    return InvalidArgument(where + ": name must have 1.." + std::to_string(kGgmlMaxNameLength) +
                           " bytes (llama.cpp's limit), has " + std::to_string(name.size()));
  if (ne.empty() || ne.size() > static_cast<size_t>(kGgufMaxDims))
    return InvalidArgument(where + ": needs 1.." + std::to_string(kGgufMaxDims) + " dimensions, has " +
                           std::to_string(ne.size()));
  auto nb = GgmlTensorBytes(type, ne);
  if (!nb.ok()) return nb.status().With(where);
  if (tensor_index_.count(std::string(name))) return InvalidArgument(where + ": duplicate tensor name");
  tensor_index_.emplace(std::string(name), tensors_.size());
  tensors_.push_back({std::string(name), type, ne, data_size_, nb.value()});
  data_size_ += AlignUp(nb.value(), alignment_);
  return Status::Ok();
}

Result<std::string> GgufWriter::SerializeHeader() const {
  std::string h;
  PutU32(&h, 0x46554747);  // "GGUF"
  PutU32(&h, kVersion);
  PutU64(&h, tensors_.size());
  // general.alignment: a stored key must agree with ours; a non-default alignment needs the key.
  bool add_alignment = alignment_ != kGgufDefaultAlignment;
  auto it = kv_index_.find("general.alignment");
  if (it != kv_index_.end()) {
    const std::string& p = kvs_[it->second].payload;
    uint32_t t = 0, a = 0;
    std::memcpy(&t, p.data(), 4);
    if (t != static_cast<uint32_t>(GgufValueType::kU32) || p.size() != 8)
      return InvalidArgument("GGUF key 'general.alignment' must be a u32");
    std::memcpy(&a, p.data() + 4, 4);
    if (a != alignment_)
      return InvalidArgument("GGUF key 'general.alignment' (" + std::to_string(a) + ") disagrees with the writer's alignment (" +
                             std::to_string(alignment_) + ")");
    add_alignment = false;
  }
  PutU64(&h, kvs_.size() + (add_alignment ? 1 : 0));
  for (const Kv& kv : kvs_) {
    PutStr(&h, kv.key);
    h += kv.payload;
  }
  if (add_alignment) {
    PutStr(&h, "general.alignment");
    h += Scalar(GgufValueType::kU32, static_cast<uint32_t>(alignment_));
  }
  for (const Tensor& t : tensors_) {
    PutStr(&h, t.name);
    PutU32(&h, static_cast<uint32_t>(t.ne.size()));
    for (int64_t d : t.ne) PutU64(&h, static_cast<uint64_t>(d));
    PutU32(&h, static_cast<uint32_t>(t.type));
    PutU64(&h, t.offset);
  }
  h.resize(AlignUp(h.size(), alignment_), '\0');
  return h;
}

Status GgufWriter::Write(const void* p, size_t n) {
  if (n > 0 && std::fwrite(p, 1, n, out_) != n) return IoError(path_ + ": write failed: " + std::strerror(errno));
  return Status::Ok();
}

Status GgufWriter::PadTo(uint64_t pos) {
  static const char kZeros[256] = {};
  while (data_written_ < pos) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof kZeros, pos - data_written_));
    QS_RETURN_IF_ERROR(Write(kZeros, n));
    data_written_ += n;
  }
  return Status::Ok();
}

Status GgufWriter::Begin(const std::string& path) {
  if (begun_) return InvalidArgument(path + ": GgufWriter::Begin called twice");
  QS_ASSIGN_OR_RETURN(std::string header, SerializeHeader());
  path_ = path;
  out_ = std::fopen(path.c_str(), "wb");
  if (!out_) return IoError(path + ": cannot create: " + std::strerror(errno));
  begun_ = true;
  std::setvbuf(out_, nullptr, _IOFBF, 1 << 20);
  QS_RETURN_IF_ERROR(Write(header.data(), header.size()));
  return Status::Ok();
}

Status GgufWriter::WriteTensorChunk(const void* data, size_t nbytes) {
  if (!out_) return InvalidArgument(path_ + ": GgufWriter: Begin() first (or file already finished)");
  // Zero-sized tensors take no bytes: skip them when a piece starts a new tensor.
  while (written_in_tensor_ == 0 && next_tensor_ < tensors_.size() && tensors_[next_tensor_].nbytes == 0 && nbytes > 0)
    ++next_tensor_;
  if (next_tensor_ >= tensors_.size()) return InvalidArgument(path_ + ": more tensor data than declared tensors");
  const Tensor& t = tensors_[next_tensor_];
  if (nbytes > t.nbytes - written_in_tensor_)
    return InvalidArgument(path_ + ": tensor '" + t.name + "': " + std::to_string(written_in_tensor_ + nbytes) +
                           " bytes written, but it has " + std::to_string(t.nbytes));
  QS_RETURN_IF_ERROR(Write(data, nbytes));
  written_in_tensor_ += nbytes;
  data_written_ += nbytes;
  if (written_in_tensor_ == t.nbytes) {
    QS_RETURN_IF_ERROR(PadTo(t.offset + AlignUp(t.nbytes, alignment_)));
    ++next_tensor_;
    written_in_tensor_ = 0;
  }
  return Status::Ok();
}

Status GgufWriter::WriteTensor(std::string_view name, const void* data, size_t nbytes) {
  if (next_tensor_ >= tensors_.size() || written_in_tensor_ != 0 || tensors_[next_tensor_].name != name) {
    const std::string expected = next_tensor_ < tensors_.size() ? tensors_[next_tensor_].name : "(none left)";
    return InvalidArgument(path_ + ": tensor '" + std::string(name) + "' written out of order; next is '" + expected + "'");
  }
  const Tensor& t = tensors_[next_tensor_];
  if (nbytes != t.nbytes)
    return InvalidArgument(path_ + ": tensor '" + t.name + "': got " + std::to_string(nbytes) + " bytes, expected " +
                           std::to_string(t.nbytes) + " (" + GgmlTypeName(t.type) + ")");
  if (nbytes == 0) {  // nothing to write, but the tensor still counts as done
    ++next_tensor_;
    return Status::Ok();
  }
  return WriteTensorChunk(data, nbytes);
}

Status GgufWriter::Finish() {
  if (!out_) return InvalidArgument(path_ + ": GgufWriter: Begin() first (or file already finished)");
  // Zero-sized tensors at the end need no bytes.
  while (next_tensor_ < tensors_.size() && tensors_[next_tensor_].nbytes == 0) ++next_tensor_;
  if (next_tensor_ != tensors_.size())
    return InvalidArgument(path_ + ": tensor '" + tensors_[next_tensor_].name + "' (and " +
                           std::to_string(tensors_.size() - next_tensor_ - 1) + " after it) not written");
  const int rc = std::fclose(out_);
  out_ = nullptr;
  if (rc != 0) return IoError(path_ + ": close failed: " + std::strerror(errno));
  return Status::Ok();
}

}  // namespace qs
