#include "io/gguf.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>

namespace qs {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint64_t kMaxAlignment = 1ull << 30;

// Smallest encodings, used to refuse counts that cannot fit in what is left of the file before
// anything is reserved: a kv is key length (8) + type (4) + at least one value byte; a tensor info
// is name length (8) + n_dims (4) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;
// Up-front reservations are capped: a hostile count that still fits the file size should not
// allocate ~10x the file before the entries are even read.
constexpr uint64_t kMaxReserve = 1 << 16;
// Arrays of arrays (allowed by the spec, used by no known writer; llama.cpp rejects them) cost
// ~100 bytes of memory per 12 file bytes: cap their total element count per file.
constexpr uint64_t kMaxNestedArrays = 1 << 20;

bool ValidValueType(uint32_t t) { return t <= static_cast<uint32_t>(GgufValueType::kF64); }
bool IsIntegerType(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8: case GgufValueType::kI8: case GgufValueType::kU16: case GgufValueType::kI16:
    case GgufValueType::kU32: case GgufValueType::kI32: case GgufValueType::kU64: case GgufValueType::kI64:
      return true;
    default:
      return false;
  }
}
bool IsNumericType(GgufValueType t) {
  return IsIntegerType(t) || t == GgufValueType::kF32 || t == GgufValueType::kF64;
}

// Decodes one scalar from raw LE bits (zero-extended into 64 bits) as double, or as int64 when
// it is an integer that fits.
double BitsToDouble(GgufValueType t, uint64_t b) {
  switch (t) {
    case GgufValueType::kU8: return static_cast<uint8_t>(b);
    case GgufValueType::kI8: return static_cast<int8_t>(b);
    case GgufValueType::kU16: return static_cast<uint16_t>(b);
    case GgufValueType::kI16: return static_cast<int16_t>(b);
    case GgufValueType::kU32: return static_cast<uint32_t>(b);
    case GgufValueType::kI32: return static_cast<int32_t>(b);
    case GgufValueType::kU64: return static_cast<double>(b);
    case GgufValueType::kI64: return static_cast<double>(static_cast<int64_t>(b));
    case GgufValueType::kBool: return b != 0;
    case GgufValueType::kF32: { float f; uint32_t u = static_cast<uint32_t>(b); std::memcpy(&f, &u, 4); return f; }
    case GgufValueType::kF64: { double d; std::memcpy(&d, &b, 8); return d; }
    default: return 0;
  }
}
std::optional<int64_t> BitsToInt(GgufValueType t, uint64_t b) {
  switch (t) {
    case GgufValueType::kU64:
      if (b > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
      return static_cast<int64_t>(b);
    case GgufValueType::kI64: return static_cast<int64_t>(b);
    case GgufValueType::kF32: case GgufValueType::kF64: case GgufValueType::kString: case GgufValueType::kArray:
      return std::nullopt;
    default: return static_cast<int64_t>(BitsToDouble(t, b));  // <= 32-bit ints and bool: exact
  }
}
uint64_t LoadBits(const uint8_t* p, size_t n) {
  uint64_t b = 0;
  std::memcpy(&b, p, n);  // little-endian hosts only (x86-64, arm64), as in safetensors.cc
  return b;
}

// Cursor over the file image. Every read checks the remaining size first.
class Reader {
 public:
  Reader(const uint8_t* d, size_t n, const std::string& file) : d_(d), n_(n), file_(file) {}
  size_t pos() const { return pos_; }
  const std::string& file() const { return file_; }
  uint64_t remaining() const { return n_ - pos_; }

  Status Need(uint64_t bytes, const std::string& what) const {
    if (bytes > remaining())
      return InvalidArgument(file_ + ": truncated file: " + what + " needs " + std::to_string(bytes) +
                             " bytes at offset " + std::to_string(pos_) + " but the file has " +
                             std::to_string(n_) + " bytes");
    return Status::Ok();
  }
  Status U32(uint32_t* v, const std::string& what) {
    QS_RETURN_IF_ERROR(Need(4, what));
    *v = static_cast<uint32_t>(LoadBits(d_ + pos_, 4));
    pos_ += 4;
    return Status::Ok();
  }
  Status U64(uint64_t* v, const std::string& what) {
    QS_RETURN_IF_ERROR(Need(8, what));
    *v = LoadBits(d_ + pos_, 8);
    pos_ += 8;
    return Status::Ok();
  }
  Status Str(std::string_view* s, const std::string& what) {
    uint64_t len = 0;
    QS_RETURN_IF_ERROR(U64(&len, what + " length"));
    if (len > remaining())
      return InvalidArgument(file_ + ": " + what + ": string length " + std::to_string(len) + " at offset " +
                             std::to_string(pos_ - 8) + " runs past end of file (" + std::to_string(n_) + " bytes)");
    *s = std::string_view(reinterpret_cast<const char*>(d_ + pos_), len);
    pos_ += len;
    return Status::Ok();
  }
  // Str() without building a message: false (and nothing consumed) when it would fail. For the
  // hot loop over a vocabulary's strings; the caller then calls Str() for the error.
  bool TryStr(std::string_view* s) {
    if (remaining() < 8) return false;
    const uint64_t len = LoadBits(d_ + pos_, 8);
    if (len > remaining() - 8) return false;
    *s = std::string_view(reinterpret_cast<const char*>(d_ + pos_ + 8), len);
    pos_ += 8 + len;
    return true;
  }
  const uint8_t* Take(uint64_t bytes) {  // caller has checked Need()
    const uint8_t* p = d_ + pos_;
    pos_ += bytes;
    return p;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& file_;
};

// Reads one value of type `t`; `where` ("key 'x'", "key 'x'[3]") follows the file name in messages.
Status ReadValue(Reader& r, GgufValueType t, int depth, const std::string& where, uint64_t* nested_budget,
                 GgufValue* out) {
  out->type = t;
  if (const size_t sz = GgufScalarSize(t)) {
    QS_RETURN_IF_ERROR(r.Need(sz, where + " value"));
    out->scalar_bits = LoadBits(r.Take(sz), sz);
    return Status::Ok();
  }
  if (t == GgufValueType::kString) return r.Str(&out->str, where);
  // kArray
  const std::string at = r.file() + ": " + where;
  if (depth >= kGgufMaxArrayDepth)
    return InvalidArgument(at + ": arrays nested deeper than " + std::to_string(kGgufMaxArrayDepth) + " levels");
  uint32_t et = 0;
  uint64_t n = 0;
  QS_RETURN_IF_ERROR(r.U32(&et, where + " array element type"));
  if (!ValidValueType(et)) return InvalidArgument(at + ": unknown array element type " + std::to_string(et));
  QS_RETURN_IF_ERROR(r.U64(&n, where + " array length"));
  out->array_type = static_cast<GgufValueType>(et);
  out->array_len = n;
  // Smallest element: scalar size; string = its u64 length; array = type u32 + count u64.
  uint64_t min_elem = GgufScalarSize(out->array_type);
  if (out->array_type == GgufValueType::kString) min_elem = 8;
  if (out->array_type == GgufValueType::kArray) min_elem = 12;
  uint64_t need = 0;
  if (__builtin_mul_overflow(n, min_elem, &need) || need > r.remaining())
    return InvalidArgument(at + ": array of " + std::to_string(n) + " " + GgufValueTypeName(out->array_type) +
                           " elements runs past end of file");
  if (min_elem == GgufScalarSize(out->array_type) && min_elem != 0) {
    out->array_data = r.Take(need);
    return Status::Ok();
  }
  if (out->array_type == GgufValueType::kString) {
    out->strings.resize(n);
    for (uint64_t i = 0; i < n; ++i)
      if (!r.TryStr(&out->strings[i])) return r.Str(&out->strings[i], where + "[" + std::to_string(i) + "]");
    return Status::Ok();
  }
  if (n > *nested_budget)
    return InvalidArgument(at + ": more than " + std::to_string(kMaxNestedArrays) + " nested arrays in the file");
  *nested_budget -= n;
  out->arrays.resize(n);
  for (uint64_t i = 0; i < n; ++i)
    QS_RETURN_IF_ERROR(ReadValue(r, GgufValueType::kArray, depth + 1, where + "[" + std::to_string(i) + "]",
                                 nested_budget, &out->arrays[i]));
  return Status::Ok();
}

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }  // x, a bounded by the file size / 2^30

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

const char* GgufValueTypeName(GgufValueType t) {
  static const char* const kNames[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                       "bool", "string", "array", "u64", "i64", "f64"};
  const auto i = static_cast<uint32_t>(t);
  return ValidValueType(i) ? kNames[i] : "unknown";
}

size_t GgufScalarSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kU8: case GgufValueType::kI8: case GgufValueType::kBool: return 1;
    case GgufValueType::kU16: case GgufValueType::kI16: return 2;
    case GgufValueType::kU32: case GgufValueType::kI32: case GgufValueType::kF32: return 4;
    case GgufValueType::kU64: case GgufValueType::kI64: case GgufValueType::kF64: return 8;
    default: return 0;
  }
}

std::optional<int64_t> GgufValue::AsInt() const {
  if (!IsIntegerType(type) && type != GgufValueType::kBool) return std::nullopt;
  return BitsToInt(type, scalar_bits);
}

std::optional<double> GgufValue::AsFloat() const {
  if (!IsNumericType(type)) return std::nullopt;
  return BitsToDouble(type, scalar_bits);
}

std::optional<bool> GgufValue::AsBool() const {
  if (type != GgufValueType::kBool && !IsIntegerType(type)) return std::nullopt;
  return scalar_bits != 0;
}

std::vector<int64_t> GgufValue::IntArray() const {
  std::vector<int64_t> v;
  const size_t sz = GgufScalarSize(array_type);
  if (type != GgufValueType::kArray || sz == 0) return v;
  v.reserve(array_len);
  for (uint64_t i = 0; i < array_len; ++i) {
    const uint64_t b = LoadBits(array_data + i * sz, sz);
    if (auto x = BitsToInt(array_type, b)) {
      v.push_back(*x);
    } else {  // floats truncate; u64 above INT64_MAX and NaN saturate / give 0
      const double d = BitsToDouble(array_type, b);
      v.push_back(std::isnan(d) ? 0 : d >= 9.2e18 ? std::numeric_limits<int64_t>::max()
                                    : d <= -9.2e18 ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(d));
    }
  }
  return v;
}

std::vector<float> GgufValue::FloatArray() const {
  std::vector<float> v;
  const size_t sz = GgufScalarSize(array_type);
  if (type != GgufValueType::kArray || sz == 0) return v;
  v.reserve(array_len);
  for (uint64_t i = 0; i < array_len; ++i)
    v.push_back(static_cast<float>(BitsToDouble(array_type, LoadBits(array_data + i * sz, sz))));
  return v;
}

std::string GgufValue::DebugString() const {
  if (type == GgufValueType::kString) return "string \"" + std::string(str.substr(0, 64)) + (str.size() > 64 ? "...\"" : "\"");
  if (type == GgufValueType::kArray)
    return std::string("array<") + GgufValueTypeName(array_type) + ">[" + std::to_string(array_len) + "]";
  std::string s = std::string(GgufValueTypeName(type)) + " ";
  if (auto i = AsInt(); i && type != GgufValueType::kBool) return s + std::to_string(*i);
  if (type == GgufValueType::kBool) return s + (scalar_bits ? "true" : "false");
  if (type == GgufValueType::kU64) return s + std::to_string(scalar_bits);
  return s + std::to_string(BitsToDouble(type, scalar_bits));
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;  // the parser has checked that this does not overflow
  return n;
}

Shape GgufTensorInfo::RowMajorShape() const { return Shape(ne.rbegin(), ne.rend()); }

Result<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  QS_ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  f->path_ = path;
  f->data_ = f->file_->data();
  f->size_ = f->file_->size();
  QS_RETURN_IF_ERROR(f->ParseImpl());
  return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::Parse(const uint8_t* data, size_t size, const std::string& name) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = name;
  f->data_ = data;
  f->size_ = size;
  QS_RETURN_IF_ERROR(f->ParseImpl());
  return f;
}

Status GgufFile::ParseImpl() {
  const std::string& file = path_;
  Reader r(data_, size_, file);

  // --- header -------------------------------------------------------------------------------
  if (size_ < 4 || LoadBits(data_, 4) != kMagic) {
    std::string got = size_ < 4 ? "(file shorter than 4 bytes)" : "";
    for (size_t i = 0; i < 4 && i < size_; ++i) {
      const char c = static_cast<char>(data_[i]);
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", data_[i]);
      got += (c >= 32 && c < 127) ? std::string(1, c) : std::string(hex);
    }
    return InvalidArgument(file + ": not a GGUF file (magic '" + got + "', expected 'GGUF')");
  }
  r.Take(4);
  QS_RETURN_IF_ERROR(r.U32(&version_, "header version"));
  if (version_ != 2 && version_ != 3) {
    // A big-endian file (v3 allows them) stores the version byte-swapped: 0x03000000.
    const uint32_t swapped = __builtin_bswap32(version_);
    if ((version_ & 0xFFFF) == 0 && swapped >= 1 && swapped <= 3)
      return Unsupported(file + ": big-endian GGUF file (version " + std::to_string(swapped) +
                         " stored byte-swapped); only little-endian GGUF is supported");
    if (version_ == 1)
      return Unsupported(file + ": GGUF version 1 is not supported (obsolete layout with 32-bit counts); "
                         "re-convert the model with a current llama.cpp");
    return Unsupported(file + ": unsupported GGUF version " + std::to_string(version_) + " (expected 2 or 3)");
  }
  uint64_t n_tensors = 0, n_kv = 0;
  QS_RETURN_IF_ERROR(r.U64(&n_tensors, "header tensor_count"));
  QS_RETURN_IF_ERROR(r.U64(&n_kv, "header kv_count"));
  // Check both counts against the bytes left before reserving anything (a hostile header can
  // claim 2^64 entries).
  if (n_kv > r.remaining() / kMinKvBytes)
    return InvalidArgument(file + ": kv_count " + std::to_string(n_kv) + " is impossible for a file of " +
                           std::to_string(size_) + " bytes (truncated or corrupt header)");
  if (n_tensors > r.remaining() / kMinTensorInfoBytes)
    return InvalidArgument(file + ": tensor_count " + std::to_string(n_tensors) + " is impossible for a file of " +
                           std::to_string(size_) + " bytes (truncated or corrupt header)");

  // --- metadata -----------------------------------------------------------------------------
  metadata_.reserve(std::min(n_kv, kMaxReserve));
  uint64_t nested_budget = kMaxNestedArrays;
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string_view key;
    QS_RETURN_IF_ERROR(r.Str(&key, "key #" + std::to_string(i)));
    const std::string what = "key " + Quote(key);
    const std::string where = file + ": " + what;
    uint32_t t = 0;
    QS_RETURN_IF_ERROR(r.U32(&t, "value type of " + what));
    if (!ValidValueType(t)) return InvalidArgument(where + ": unknown value type " + std::to_string(t));
    GgufValue v;
    QS_RETURN_IF_ERROR(ReadValue(r, static_cast<GgufValueType>(t), 0, what, &nested_budget, &v));
    if (!key_index_.emplace(std::string(key), metadata_.size()).second)
      return InvalidArgument(where + ": duplicate key");
    metadata_.emplace_back(std::string(key), std::move(v));
  }

  // general.alignment: ggml writes it as u32; accept any integer that is a power of two.
  if (const GgufValue* a = Find("general.alignment")) {
    auto av = a->AsInt();
    if (!av || a->type == GgufValueType::kBool)
      return InvalidArgument(file + ": key 'general.alignment' must be an integer, got " + a->DebugString());
    if (*av <= 0 || (*av & (*av - 1)) != 0 || static_cast<uint64_t>(*av) > kMaxAlignment)
      return InvalidArgument(file + ": key 'general.alignment' = " + std::to_string(*av) +
                             " is not a power of two in [1, 2^30]");
    alignment_ = static_cast<size_t>(*av);
  }

  // --- tensor infos -------------------------------------------------------------------------
  tensors_.reserve(std::min(n_tensors, kMaxReserve));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo ti;
    std::string_view name;
    QS_RETURN_IF_ERROR(r.Str(&name, "tensor info #" + std::to_string(i) + " name"));
    ti.name = std::string(name);
    const std::string where = file + ": tensor " + Quote(name);
    uint32_t n_dims = 0;
    QS_RETURN_IF_ERROR(r.U32(&n_dims, "n_dims of tensor " + Quote(name)));
    if (n_dims > static_cast<uint32_t>(kGgufMaxDims))
      return InvalidArgument(where + ": n_dims " + std::to_string(n_dims) + " exceeds the maximum of " +
                             std::to_string(kGgufMaxDims));
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t raw = 0;
      QS_RETURN_IF_ERROR(r.U64(&raw, "dims of tensor " + Quote(name)));
      const auto dim = static_cast<int64_t>(raw);
      if (dim < 0) return InvalidArgument(where + ": dimension " + std::to_string(d) + " is negative (" + std::to_string(dim) + ")");
      if (__builtin_mul_overflow(numel, dim, &numel))
        return InvalidArgument(where + ": dimensions overflow (element count exceeds 2^63)");
      ti.ne.push_back(dim);
    }
    uint32_t type = 0;
    QS_RETURN_IF_ERROR(r.U32(&type, "type of tensor " + Quote(name)));
    if (!GgmlTypeKnown(type)) return InvalidArgument(where + ": unknown ggml type " + std::to_string(type));
    ti.type = static_cast<GgmlType>(type);
    QS_RETURN_IF_ERROR(r.U64(&ti.offset, "offset of tensor " + Quote(name)));
    auto nb = GgmlTensorBytes(ti.type, ti.ne);
    if (!nb.ok()) return nb.status().With(where);
    ti.nbytes = nb.value();
    if (!tensor_index_.emplace(ti.name, tensors_.size()).second) return InvalidArgument(where + ": duplicate tensor name");
    tensors_.push_back(std::move(ti));
  }

  // --- data section -------------------------------------------------------------------------
  data_offset_ = AlignUp(r.pos(), alignment_);
  // A file with no tensor data may stop before the padding (older writers did not pad).
  const uint64_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
  std::vector<size_t> order;
  order.reserve(tensors_.size());
  for (size_t i = 0; i < tensors_.size(); ++i) {
    GgufTensorInfo& ti = tensors_[i];
    const std::string where = file + ": tensor " + Quote(ti.name);
    if (ti.offset % alignment_ != 0)
      return InvalidArgument(where + ": data offset " + std::to_string(ti.offset) + " is not aligned to " +
                             std::to_string(alignment_) + " bytes");
    if (ti.offset > data_size || ti.nbytes > data_size - ti.offset)
      return InvalidArgument(where + ": data [" + std::to_string(ti.offset) + ", +" + std::to_string(ti.nbytes) +
                             ") runs past end of file (data section has " + std::to_string(data_size) +
                             " bytes; file truncated?)");
    // Clamped for empty tensors of a file that ends before its (empty) data section.
    ti.data = data_ + std::min<uint64_t>(data_offset_ + ti.offset, size_);
    if (ti.nbytes > 0) order.push_back(i);
  }
  // Overlap check: sorted by offset, each tensor must start at or after the previous one's end.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& prev = tensors_[order[k - 1]];
    const GgufTensorInfo& cur = tensors_[order[k]];
    if (cur.offset < prev.offset + prev.nbytes)
      return InvalidArgument(file + ": tensors " + Quote(prev.name) + " and " + Quote(cur.name) +
                             " have overlapping data");
  }
  return Status::Ok();
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = key_index_.find(std::string(key));
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {
Status Missing(const std::string& file, std::string_view key) {
  return NotFound(file + ": missing key " + Quote(key));
}
Status WrongType(const std::string& file, std::string_view key, const char* want, const GgufValue& v) {
  return InvalidArgument(file + ": key " + Quote(key) + " should be " + want + ", got " + v.DebugString());
}
}  // namespace

Result<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (v->type != GgufValueType::kString) return WrongType(path_, key, "a string", *v);
  return std::string(v->str);
}

Result<int64_t> GgufFile::GetInt(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  auto i = v->AsInt();
  if (!i) return WrongType(path_, key, "an integer", *v);
  return *i;
}

Result<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  auto d = v->AsFloat();
  if (!d) return WrongType(path_, key, "a number", *v);
  return *d;
}

Result<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  auto b = v->AsBool();
  if (!b) return WrongType(path_, key, "a bool", *v);
  return *b;
}

Result<int64_t> GgufFile::GetIntOr(std::string_view key, int64_t def) const {
  return Find(key) ? GetInt(key) : Result<int64_t>(def);
}

Result<double> GgufFile::GetFloatOr(std::string_view key, double def) const {
  return Find(key) ? GetFloat(key) : Result<double>(def);
}

Result<const GgufValue*> GgufFile::GetArray(std::string_view key, GgufValueType elem) const {
  const GgufValue* v = Find(key);
  if (!v) return Missing(path_, key);
  if (!v->IsArrayOf(elem)) {
    const std::string want = std::string("an array of ") + GgufValueTypeName(elem);
    return WrongType(path_, key, want.c_str(), *v);
  }
  return v;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace qs
