#include "convert/synth.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "io/mapped_file.h"
#include "model/gguf_names.h"
#include "convert/gguf_quantize.h"
#include "model/transformer.h"
#include "quant/fp16.h"
#include "quant/fp4.h"
#include "quant/fp8.h"

namespace qs {

namespace fs = std::filesystem;

Result<std::vector<TensorSpec>> CheckpointTensorSpecs(const ModelConfig& c) {
  QS_ASSIGN_OR_RETURN(auto decls, DeclareCheckpointTensors(c));
  std::vector<TensorSpec> s;
  s.reserve(decls.size());
  for (auto& d : decls) s.push_back({std::move(d.name), std::move(d.shape), d.role, d.routed_expert});
  return s;
}

namespace {

// Small fast PRNG (splitmix64 seeding + xoshiro256+), normal deviates by Box-Muller.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& v : s_) {
      seed += 0x9e3779b97f4a7c15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      v = z ^ (z >> 31);
    }
  }
  uint64_t Next() {
    const uint64_t r = s_[0] + s_[3], t = s_[1] << 17;
    s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3]; s_[2] ^= t;
    s_[3] = (s_[3] << 45) | (s_[3] >> 19);
    return r;
  }
  float Uniform() { return static_cast<float>((Next() >> 40) + 1) * (1.0f / 16777217.0f); }  // (0,1)
  float Normal() {
    if (have_) { have_ = false; return spare_; }
    float u = Uniform(), v = Uniform();
    float r = std::sqrt(-2.0f * std::log(u)), a = 6.28318530718f * v;
    spare_ = r * std::sin(a);
    have_ = true;
    return r * std::cos(a);
  }

 private:
  uint64_t s_[4];
  float spare_ = 0;
  bool have_ = false;
};

uint64_t HashName(const std::string& n, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (unsigned char ch : n) h = (h ^ ch) * 1099511628211ull;
  return h;
}

struct Planned {
  TensorSpec spec;
  DType dtype;              // kI8 here: packed FP4 e2m1
  bool fp8_scale = false;   // this entry is the scale tensor of the previous weight
  uint64_t nbytes = 0;
  uint64_t offset = 0;      // within its shard's data section
  int shard = 0;
};

float Draw(Rng& rng, InitKind k, int64_t fan_in, int64_t hidden) {
  switch (k) {
    case InitKind::kEmbed: return rng.Normal();
    case InitKind::kHead: return 1.5f * rng.Normal() / std::sqrt(static_cast<float>(hidden));
    case InitKind::kNorm: return 1.0f + 0.1f * rng.Normal();
    case InitKind::kBias: return 0.05f * rng.Normal();
    case InitKind::kNormBias: return 0.1f * rng.Normal();
    case InitKind::kExpertIds: return 0.f;
    default: return rng.Normal() / std::sqrt(static_cast<float>(fan_in));
  }
}

// Writes one tensor's bytes (and, for FP8, its scale tensor's bytes) at their file offsets,
// generating 128-row blocks at a time.
// ue8m0 (power-of-two) scale byte for a block whose amax is `amax`, as the V4 release's
// quantiser: 2^ceil(log2(amax / qmax)).
uint8_t Ue8m0For(float amax, float qmax) {
  if (!(amax > 0)) return 127;
  const int e = static_cast<int>(std::ceil(std::log2(static_cast<double>(amax) / qmax)));
  return static_cast<uint8_t>(std::clamp(e + 127, 1, 254));
}

// Distinct random expert ids per row (hash routing's tid2eid), I64.
void WriteExpertIds(std::fstream& f, uint64_t data_start, const Planned& w, uint64_t seed, const ModelConfig& c) {
  Rng rng(HashName(w.spec.name, seed));
  const int64_t rows = w.spec.shape[0], k = w.spec.shape[1], n = std::max<int64_t>(c.n_routed_experts, k);
  std::vector<int64_t> ids(static_cast<size_t>(rows * k)), perm(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < n; ++i) perm[i] = i;
    for (int64_t i = 0; i < k; ++i) std::swap(perm[i], perm[i + static_cast<int64_t>(rng.Next() % static_cast<uint64_t>(n - i))]);
    std::copy_n(perm.begin(), k, ids.begin() + r * k);
  }
  f.seekp(static_cast<std::streamoff>(data_start + w.offset));
  f.write(reinterpret_cast<const char*>(ids.data()), static_cast<std::streamsize>(ids.size() * 8));
}

// Packed FP4 e2m1 (low nibble = even column) with one ue8m0 scale byte per 1x32 group.
void WriteFp4(std::fstream& f, uint64_t data_start, const Planned& w, const Planned& scale, uint64_t seed,
              const ModelConfig& c) {
  const int64_t rows = w.spec.shape[0], cols = w.spec.shape[1], g = cols / 32;
  Rng rng(HashName(w.spec.name, seed));
  std::vector<float> row(static_cast<size_t>(cols));
  std::vector<uint8_t> bytes(static_cast<size_t>(cols / 2)), sb(static_cast<size_t>(g));
  for (int64_t r = 0; r < rows; ++r) {
    for (auto& v : row) v = Draw(rng, w.spec.init, cols, c.hidden_size);
    std::fill(bytes.begin(), bytes.end(), 0);
    for (int64_t j = 0; j < g; ++j) {
      float amax = 0;
      for (int64_t i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(row[j * 32 + i]));
      sb[j] = Ue8m0For(amax, 6.0f);
      const float s = Ue8m0ToF32(sb[j]);
      for (int64_t i = 0; i < 32; ++i) {
        const int64_t col = j * 32 + i;
        bytes[col / 2] |= static_cast<uint8_t>(F32ToE2M1(std::clamp(row[col] / s, -6.0f, 6.0f)) << ((col % 2) * 4));
      }
    }
    f.seekp(static_cast<std::streamoff>(data_start + w.offset + r * (cols / 2)));
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    f.seekp(static_cast<std::streamoff>(data_start + scale.offset + r * g));
    f.write(reinterpret_cast<const char*>(sb.data()), static_cast<std::streamsize>(sb.size()));
  }
}

void WriteTensor(std::fstream& f, uint64_t data_start, const Planned& w, const Planned* scale, uint64_t seed,
                 const ModelConfig& c) {
  const TensorSpec& s = w.spec;
  if (w.dtype == DType::kI64) return WriteExpertIds(f, data_start, w, seed, c);
  if (w.dtype == DType::kI8) return WriteFp4(f, data_start, w, *scale, seed, c);
  const bool ue8m0 = scale && scale->dtype == DType::kF8E8M0;
  const int64_t rows = s.shape.size() == 2 ? s.shape[0] : 1, cols = s.shape.back();
  Rng rng(HashName(s.name, seed));
  const int64_t br = w.dtype == DType::kF8E4M3 ? c.fp8_block_rows : 64, bc = c.fp8_block_cols;
  const int64_t scols = (cols + bc - 1) / bc;
  std::vector<float> blk;
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
  f.seekp(static_cast<std::streamoff>(data_start + w.offset));
  for (int64_t r0 = 0; r0 < rows; r0 += br) {
    const int64_t n = std::min(br, rows - r0);
    blk.resize(static_cast<size_t>(n * cols));
    for (auto& v : blk) v = Draw(rng, s.init, cols, c.hidden_size);
    const size_t es = DTypeSize(w.dtype);
    bytes.resize(blk.size() * es);
    if (w.dtype == DType::kF32) {
      std::memcpy(bytes.data(), blk.data(), bytes.size());
    } else if (w.dtype == DType::kBF16) {
      for (size_t i = 0; i < blk.size(); ++i) {
        uint16_t h = F32ToBf16(blk[i]);
        std::memcpy(&bytes[2 * i], &h, 2);
      }
    } else {  // FP8: per 128x128 block, scale_inv = amax / 448, code = e4m3(w / scale_inv)
      scales.assign(static_cast<size_t>(scols), 0.f);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < cols; ++j) scales[j / bc] = std::max(scales[j / bc], std::fabs(blk[i * cols + j]));
      std::vector<uint8_t> sb(scales.size());
      for (size_t j = 0; j < scales.size(); ++j) {
        if (ue8m0) sb[j] = Ue8m0For(scales[j], 448.0f), scales[j] = Ue8m0ToF32(sb[j]);
        else scales[j] = scales[j] > 0 ? scales[j] / 448.0f : 1.0f;
      }
      for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < cols; ++j) bytes[i * cols + j] = F32ToFp8E4M3(blk[i * cols + j] / scales[j / bc]);
      const uint64_t here = static_cast<uint64_t>(f.tellp());
      const int64_t es_scale = ue8m0 ? 1 : 4;
      f.seekp(static_cast<std::streamoff>(data_start + scale->offset + (r0 / br) * scols * es_scale));
      if (ue8m0) f.write(reinterpret_cast<const char*>(sb.data()), static_cast<std::streamsize>(sb.size()));
      else f.write(reinterpret_cast<const char*>(scales.data()), static_cast<std::streamsize>(scales.size() * 4));
      f.seekp(static_cast<std::streamoff>(here));
    }
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
}

// Rows of the synthetic tensors, drawn in the order SynthesizeCheckpoint draws them.
class SynthRowSource : public GgufRowSource {
 public:
  SynthRowSource(const ModelConfig& c, const std::vector<TensorSpec>& specs, uint64_t seed)
      : c_(c), seed_(seed), rng_(0) {
    for (const auto& s : specs) init_[s.name] = s.init;
  }
  bool hf_layout() const override { return true; }
  Status ReadRows(const GgufPlanEntry& t, int64_t e, int64_t r0, int64_t n, float* out, ThreadPool*) override {
    const std::string name = t.n_expert > 0 ? ExpertName(t.hf_name, e) : t.hf_name;
    auto it = init_.find(name);
    if (it == init_.end()) return NotFound("synth: no tensor '" + name + "' in the layout");
    if (r0 == 0) rng_ = Rng(HashName(name, seed_));
    const int64_t cols = t.cols();
    for (int64_t i = 0; i < n * cols; ++i) out[i] = Draw(rng_, it->second, cols, c_.hidden_size);
    return Status::Ok();
  }

 private:
  ModelConfig c_;
  uint64_t seed_;
  Rng rng_;
  std::map<std::string, InitKind> init_;
};

}  // namespace

Status SynthesizeGguf(const SynthGgufOptions& o) {
  QS_ASSIGN_OR_RETURN(ModelConfig c, LoadModelConfig(o.config_path));
  QS_ASSIGN_OR_RETURN(GgufFileType ft, ParseGgufFileType(o.gguf_type));
  QS_ASSIGN_OR_RETURN(auto specs, CheckpointTensorSpecs(c));
  SynthRowSource src(c, specs, o.seed);
  GgufModelWriteOptions wo;
  wo.out_path = o.out_path;
  wo.type = ft;
  wo.threads = o.threads;
  wo.model_name = !o.model_name.empty() ? o.model_name
                                        : fs::path(o.config_path).parent_path().filename().string() + " (synthetic)";
  wo.extra_metadata = o.extra_metadata;
  wo.progress_label = "synth";
  return WriteGgufModel(c, &src, wo);
}

Status SynthesizeCheckpoint(const SynthOptions& o) {
  QS_ASSIGN_OR_RETURN(std::string cfg_text, ReadTextFile(o.config_path));
  QS_ASSIGN_OR_RETURN(ModelConfig c, ParseModelConfig(cfg_text, o.config_path));
  if (o.dtype != "bf16" && o.dtype != "f32" && o.dtype != "fp8" && o.dtype != "fp4")
    return InvalidArgument("--dtype must be bf16, f32, fp8 or fp4, not '" + o.dtype + "'");
  auto cj = nlohmann::ordered_json::parse(cfg_text);
  const bool v4q = o.dtype == "fp4";  // the V4 release's formats and scale names
  if (o.dtype == "fp8" || v4q) {
    c.fp8 = true;
    cj["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                                 {"weight_block_size", {c.fp8_block_rows, c.fp8_block_cols}}};
    if (v4q) cj["quantization_config"]["scale_fmt"] = "ue8m0";
  } else {
    cj.erase("quantization_config");
  }
  QS_ASSIGN_OR_RETURN(auto specs, CheckpointTensorSpecs(c));

  // Plan: dtype per tensor, FP8 scale tensors right after their weight, shards by size.
  std::vector<Planned> plan;
  for (auto& s : specs) {
    Planned p{s, DType::kBF16};
    if (s.init == InitKind::kBias || s.init == InitKind::kMixer || o.dtype == "f32") p.dtype = DType::kF32;
    const bool layer = s.name.rfind("model.layers.", 0) == 0 || s.name.rfind("layers.", 0) == 0 || s.name.rfind("mtp.", 0) == 0;
    const bool fp4 = v4q && s.init == InitKind::kLinear && s.routed_expert && s.shape.size() == 2 && s.shape[1] % 32 == 0;
    const bool fp8 = !fp4 && (o.dtype == "fp8" || v4q) && s.init == InitKind::kLinear && layer;
    if (fp8) p.dtype = DType::kF8E4M3;
    if (fp4) p.dtype = DType::kI8;
    if (s.init == InitKind::kExpertIds) p.dtype = DType::kI64;
    p.nbytes = static_cast<uint64_t>(NumElements(s.shape)) * DTypeSize(p.dtype) / (fp4 ? 2 : 1);
    if (fp4) p.spec.shape = {s.shape[0], s.shape[1] / 2};
    plan.push_back(p);
    const std::string stem = s.name.size() > 7 && s.name.compare(s.name.size() - 7, 7, ".weight") == 0
                                 ? s.name.substr(0, s.name.size() - 7) : s.name;
    if (fp4) {
      Planned sc{{stem + ".scale", {s.shape[0], s.shape[1] / 32}, InitKind::kBias}, DType::kF8E8M0, true};
      sc.nbytes = static_cast<uint64_t>(NumElements(sc.spec.shape));
      plan.push_back(sc);
    } else if (fp8 && v4q) {
      Planned sc{{stem + ".scale",
                  {(s.shape[0] + c.fp8_block_rows - 1) / c.fp8_block_rows, (s.shape[1] + c.fp8_block_cols - 1) / c.fp8_block_cols},
                  InitKind::kBias},
                 DType::kF8E8M0, true};
      sc.nbytes = static_cast<uint64_t>(NumElements(sc.spec.shape));
      plan.push_back(sc);
    } else if (fp8) {
      Planned sc{{s.name + "_scale_inv",
                  {(s.shape[0] + c.fp8_block_rows - 1) / c.fp8_block_rows, (s.shape[1] + c.fp8_block_cols - 1) / c.fp8_block_cols},
                  InitKind::kBias},
                 DType::kF32, true};
      sc.nbytes = static_cast<uint64_t>(NumElements(sc.spec.shape)) * 4;
      plan.push_back(sc);
    }
  }
  int shard = 0;
  uint64_t in_shard = 0, total = 0;
  std::vector<uint64_t> shard_sizes(1, 0);
  for (size_t i = 0; i < plan.size(); ++i) {
    const bool keep_with_prev = plan[i].fp8_scale;
    if (!keep_with_prev && in_shard > 0 && in_shard + plan[i].nbytes > o.shard_bytes) {
      ++shard;
      in_shard = 0;
      shard_sizes.push_back(0);
    }
    plan[i].shard = shard;
    plan[i].offset = in_shard;
    in_shard += plan[i].nbytes;
    shard_sizes[shard] = in_shard;
    total += plan[i].nbytes;
  }
  const int n_shards = shard + 1;
  // Within a shard, wider elements first (I64, F32, BF16, then the 1-byte FP8 / FP4 / ue8m0 data):
  // every tensor then starts aligned to its element size, as the kernels read F32 in place (the
  // V4 layout mixes 1-byte scales with F32 tensors). The data stays contiguous.
  for (int si = 0; si < n_shards; ++si) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < plan.size(); ++i)
      if (plan[i].shard == si) idx.push_back(i);
    std::stable_sort(idx.begin(), idx.end(),
                     [&](size_t a, size_t b) { return DTypeSize(plan[a].dtype) > DTypeSize(plan[b].dtype); });
    uint64_t off = 0;
    for (size_t i : idx) plan[i].offset = off, off += plan[i].nbytes;
  }
  std::error_code ec;
  fs::create_directories(o.out_dir, ec);
  if (ec) return IoError(o.out_dir + ": cannot create: " + ec.message());
  auto shard_name = [&](int i) {
    if (n_shards == 1) return std::string("model.safetensors");
    char b[64];
    std::snprintf(b, sizeof b, "model-%05d-of-%05d.safetensors", i + 1, n_shards);
    return std::string(b);
  };
  Progress progress("synth", total);
  uint64_t done = 0;
  nlohmann::ordered_json weight_map;
  for (int si = 0; si < n_shards; ++si) {
    nlohmann::ordered_json hdr;
    hdr["__metadata__"] = {{"format", "pt"}};
    for (const auto& p : plan)
      if (p.shard == si) {
        hdr[p.spec.name] = {{"dtype", DTypeName(p.dtype)}, {"shape", p.spec.shape}, {"data_offsets", {p.offset, p.offset + p.nbytes}}};
        weight_map[p.spec.name] = shard_name(si);
      }
    std::string h = hdr.dump();
    while (h.size() % 8) h.push_back(' ');
    const std::string path = (fs::path(o.out_dir) / shard_name(si)).string();
    {
      std::ofstream create(path, std::ios::binary | std::ios::trunc);
      if (!create) return IoError(path + ": cannot create");
    }
    fs::resize_file(path, 8 + h.size() + shard_sizes[si], ec);
    if (ec) return IoError(path + ": cannot size file: " + ec.message());
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    uint64_t hl = h.size();
    f.write(reinterpret_cast<const char*>(&hl), 8);
    f.write(h.data(), static_cast<std::streamsize>(h.size()));
    const uint64_t data_start = 8 + h.size();
    for (size_t i = 0; i < plan.size(); ++i) {
      if (plan[i].shard != si || plan[i].fp8_scale) continue;
      const Planned* scale = (i + 1 < plan.size() && plan[i + 1].fp8_scale) ? &plan[i + 1] : nullptr;
      WriteTensor(f, data_start, plan[i], scale, o.seed, c);
      done += plan[i].nbytes + (scale ? scale->nbytes : 0);
      progress.Update(done);
    }
    if (!f) return IoError(path + ": write failed");
  }
  progress.Finish();
  if (n_shards > 1) {
    nlohmann::ordered_json idx;
    idx["metadata"] = {{"total_size", total}};
    idx["weight_map"] = weight_map;
    std::ofstream(fs::path(o.out_dir) / "model.safetensors.index.json") << idx.dump(2) << "\n";
  }
  std::ofstream(fs::path(o.out_dir) / "config.json") << cj.dump(2) << "\n";
  nlohmann::ordered_json gen = {{"bos_token_id", c.bos_token_id}, {"eos_token_id", c.eos_token_id}};
  std::ofstream(fs::path(o.out_dir) / "generation_config.json") << gen.dump(2) << "\n";
  if (!o.tokenizer_dir.empty()) {
    int copied = 0;
    for (const char* n : {"tokenizer.json", "tokenizer_config.json"}) {
      fs::path src = fs::path(o.tokenizer_dir) / n;
      if (fs::exists(src, ec)) {
        fs::copy_file(src, fs::path(o.out_dir) / n, fs::copy_options::overwrite_existing, ec);
        if (ec) return IoError(src.string() + ": cannot copy: " + ec.message());
        ++copied;
      }
    }
    if (!copied) return NotFound(o.tokenizer_dir + ": no tokenizer.json or tokenizer_config.json to copy");
  }
  QS_LOG_INFO("wrote %s: %zu tensors in %d file(s), %s", o.out_dir.c_str(), plan.size(), n_shards,
              FormatBytes(static_cast<double>(total)).c_str());
  return Status::Ok();
}

}  // namespace qs
