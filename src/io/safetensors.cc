#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/json_util.h"

namespace qs {

namespace {
constexpr uint64_t kMaxHeader = 256ull << 20;  // 256 MiB: far above any real header

bool MulOverflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
}  // namespace

static Result<std::vector<TensorView>> ParseSafetensorsImpl(const uint8_t* data, size_t size,
                                                            const std::string& file);

Result<std::vector<TensorView>> ParseSafetensors(const uint8_t* data, size_t size, const std::string& file) {
  try {  // backstop: a missed type check becomes an error, never a crash
    return ParseSafetensorsImpl(data, size, file);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(file + ": header: unexpected value: " + e.what());
  }
}

static Result<std::vector<TensorView>> ParseSafetensorsImpl(const uint8_t* data, size_t size,
                                                            const std::string& file) {
  if (size < 8) {
    return InvalidArgument(file + ": truncated safetensors file (" + std::to_string(size) +
                           " bytes, shorter than the 8-byte header length)");
  }
  uint64_t hlen = 0;
  std::memcpy(&hlen, data, 8);  // little-endian hosts only (x86-64, arm64)
  if (hlen > size - 8) {
    return InvalidArgument(file + ": header length " + std::to_string(hlen) +
                           " runs past end of file (" + std::to_string(size) + " bytes)");
  }
  if (hlen > kMaxHeader) {
    return InvalidArgument(file + ": header length " + std::to_string(hlen) + " is implausibly large");
  }
  nlohmann::json hdr;
  QS_RETURN_IF_ERROR(ParseJson(
      std::string_view(reinterpret_cast<const char*>(data) + 8, hlen), file + ": header", &hdr));
  if (!hdr.is_object()) return InvalidArgument(file + ": header: JSON header is not an object");

  const uint8_t* base = data + 8 + hlen;
  const uint64_t data_size = size - 8 - hlen;
  std::vector<TensorView> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // (begin, end) per tensor, to find overlaps
  for (auto it = hdr.begin(); it != hdr.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const std::string where = file + ": tensor '" + name + "'";
    const auto& e = it.value();
    if (!e.is_object()) return InvalidArgument(where + ": entry is not an object");
    auto dt = e.find("dtype");
    auto sh = e.find("shape");
    auto off = e.find("data_offsets");
    if (dt == e.end() || !dt->is_string()) return InvalidArgument(where + ": missing or non-string 'dtype'");
    if (sh == e.end() || !sh->is_array()) return InvalidArgument(where + ": missing or non-array 'shape'");
    if (off == e.end() || !off->is_array() || off->size() != 2)
      return InvalidArgument(where + ": 'data_offsets' must be an array of two integers");
    TensorView v;
    v.name = name;
    v.dtype = DTypeFromSafetensors(dt->get<std::string>());
    if (v.dtype == DType::kUnknown)
      return InvalidArgument(where + ": unknown dtype '" + dt->get<std::string>() + "'");
    if (sh->size() > 8) return InvalidArgument(where + ": too many dimensions (" + std::to_string(sh->size()) + ")");
    uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) return InvalidArgument(where + ": shape entries must be non-negative integers");
      uint64_t dv = d.get<uint64_t>();
      if (dv > (1ull << 40) || MulOverflows(numel, dv, &numel))
        return InvalidArgument(where + ": shape " + sh->dump() + " overflows");
      v.shape.push_back(static_cast<int64_t>(dv));
    }
    for (const auto& o : *off)
      if (!o.is_number_unsigned()) return InvalidArgument(where + ": data_offsets must be non-negative integers");
    uint64_t b = (*off)[0].get<uint64_t>(), en = (*off)[1].get<uint64_t>();
    if (b > en) return InvalidArgument(where + ": data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + "] are reversed");
    if (en > data_size)
      return InvalidArgument(where + ": data_offsets end " + std::to_string(en) +
                             " is out of range (data section has " + std::to_string(data_size) +
                             " bytes; file truncated?)");
    uint64_t need = 0;
    if (MulOverflows(numel, DTypeSize(v.dtype), &need) || need != en - b)
      return InvalidArgument(where + ": byte size " + std::to_string(en - b) + " disagrees with dtype " +
                             DTypeName(v.dtype) + " and shape " + ShapeToString(v.shape));
    v.data = base + b;
    v.nbytes = en - b;
    ranges.emplace_back(b, en);
    out.push_back(std::move(v));
  }
  // Overlap check: sort by begin; any range that starts before the previous one ends overlaps.
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t c) { return ranges[a] < ranges[c]; });
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& prev = ranges[order[k - 1]];
    const auto& cur = ranges[order[k]];
    if (cur.first < prev.second && cur.second > cur.first)
      return InvalidArgument(file + ": tensors '" + out[order[k - 1]].name + "' and '" + out[order[k]].name +
                             "' have overlapping data_offsets");
  }
  return out;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  QS_ASSIGN_OR_RETURN(f->file_, MappedFile::Open(path));
  QS_ASSIGN_OR_RETURN(f->tensors_, ParseSafetensors(f->file_->data(), f->file_->size(), path));
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->index_[f->tensors_[i].name] = i;
  return f;
}

const TensorView* SafetensorsFile::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  nlohmann::ordered_json hdr;
  hdr["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  for (const auto& t : tensors) {
    hdr[t.name] = {{"dtype", DTypeName(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string h = hdr.dump();
  while (h.size() % 8) h.push_back(' ');
  std::ofstream out(path, std::ios::binary);
  if (!out) return IoError(path + ": cannot create");
  uint64_t hl = h.size();
  out.write(reinterpret_cast<const char*>(&hl), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& t : tensors) out.write(reinterpret_cast<const char*>(t.bytes.data()), static_cast<std::streamsize>(t.bytes.size()));
  if (!out) return IoError(path + ": write failed");
  return Status::Ok();
}

}  // namespace qs
