// Fuzz target: the GGUF parser on arbitrary bytes. Properties checked on every accepted input:
//  * every tensor view lies inside the input, at an aligned offset, without overlaps;
//  * every accessor runs (numeric conversions, string arrays, nested arrays);
//  * re-serializing the metadata with GgufWriter and parsing it again gives the same values.
#include <cstdint>
#include <cstring>
#include <string>

#include "io/gguf.h"
#include "io/gguf_writer.h"

namespace {

bool Same(const qs::GgufValue& a, const qs::GgufValue& b) {
  if (a.type != b.type || a.array_type != b.array_type || a.array_len != b.array_len) return false;
  if (a.type == qs::GgufValueType::kString) return a.str == b.str;
  if (a.type != qs::GgufValueType::kArray) return a.scalar_bits == b.scalar_bits;
  if (a.strings != b.strings || a.arrays.size() != b.arrays.size()) return false;
  if (const size_t sz = qs::GgufScalarSize(a.array_type))
    if (a.array_len && std::memcmp(a.array_data, b.array_data, a.array_len * sz) != 0) return false;
  for (size_t i = 0; i < a.arrays.size(); ++i)
    if (!Same(a.arrays[i], b.arrays[i])) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = qs::GgufFile::Parse(data, size, "fuzz.gguf");
  if (!r.ok()) return 0;
  const qs::GgufFile& f = *r.value();
  for (const auto& t : f.tensors()) {
    if (t.data < data || t.nbytes > size || t.data > data + size - t.nbytes) __builtin_trap();
    if (t.offset % f.alignment() != 0) __builtin_trap();
  }
  size_t sink = 0;
  for (const auto& [key, v] : f.metadata()) {
    sink += v.AsInt().value_or(0) + static_cast<size_t>(v.AsFloat().value_or(0) != 0) + v.AsBool().value_or(false);
    sink += v.IntArray().size() + v.FloatArray().size() + v.strings.size() + v.DebugString().size();
    if (f.Find(key) != &v) __builtin_trap();  // keys are unique
  }
  qs::GgufWriter w(f.alignment());
  if (!w.CopyMetadata(f).ok()) __builtin_trap();  // anything parsed can be written back
  auto header = w.SerializeHeader();
  if (header.ok()) {  // (fails only for a general.alignment stored as another integer type)
    const std::string& h = header.value();
    auto back = qs::GgufFile::Parse(reinterpret_cast<const uint8_t*>(h.data()), h.size(), "fuzz-rt.gguf");
    if (!back.ok() || back.value()->metadata().size() != f.metadata().size()) __builtin_trap();
    for (size_t i = 0; i < f.metadata().size(); ++i) {
      if (back.value()->metadata()[i].first != f.metadata()[i].first) __builtin_trap();
      if (!Same(back.value()->metadata()[i].second, f.metadata()[i].second)) __builtin_trap();
    }
  }
  return static_cast<int>(sink & 0);
}
