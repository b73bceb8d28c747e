#include "kernels/pack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unordered_map>

#include "base/cpu.h"
#include "base/log.h"
#include "base/thread_pool.h"

namespace qs {

namespace {
std::atomic<bool> g_repack{true};  // SetRepackEnabled: the CLI's --no-repack / QIUSUO_REPACK=0
bool RepackEnabled() { return g_repack.load(std::memory_order_relaxed); }

// Quant bytes per row and 32-column block in the packed layout (the source's minus its scale).
int64_t QuantBytes(GgmlType t) { return t == GgmlType::Q4_0 ? 16 : t == GgmlType::Q8_0 ? 32 : 0; }

// Q4_K / Q5_K / Q6_K: ggml block bytes and packed bytes per row and 256-column super-block
// (kernels/pack.h: a 20-byte header plus 8 sub-blocks of 16 / 20 / 24 bytes).
bool IsKQuant(GgmlType t) { return t == GgmlType::Q4_K || t == GgmlType::Q5_K || t == GgmlType::Q6_K; }
int64_t KSourceBytes(GgmlType t) { return t == GgmlType::Q4_K ? 144 : t == GgmlType::Q5_K ? 176 : 210; }
int64_t KSubBytes(GgmlType t) { return t == GgmlType::Q4_K ? 16 : t == GgmlType::Q5_K ? 20 : 24; }
constexpr int64_t kKHeaderBytes = 20;

// ggml get_scale_min_k4: sub-block j's 6-bit scale and min from the 12 packed bytes.
void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// One super-block of a K-quant row as its unsigned quants q[256] (element order), with the raw
// fp16 d (and dmin), per-32 scales/mins (Q4_K/Q5_K) or per-16 int8 scales (Q6_K, in sc16), as
// ggml's dequantize_row_q4_K / q5_K / q6_K read them.
void UnpackKBlock(GgmlType t, const uint8_t* p, uint8_t* q, uint8_t* hdr_d, uint8_t* hdr_dmin, uint8_t* sc,
                  uint8_t* mn, int8_t* sc16) {
  if (t == GgmlType::Q6_K) {
    const uint8_t* ql = p;
    const uint8_t* qh = p + 128;
    std::memcpy(sc16, p + 192, 16);
    std::memcpy(hdr_d, p + 208, 2);
    std::memset(hdr_dmin, 0, 2);
    for (int n = 0; n < 2; ++n)
      for (int l = 0; l < 32; ++l) {
        const uint8_t* a = ql + 64 * n;
        const uint8_t h = qh[32 * n + l];
        q[128 * n + l] = static_cast<uint8_t>((a[l] & 0xF) | ((h & 3) << 4));
        q[128 * n + l + 32] = static_cast<uint8_t>((a[l + 32] & 0xF) | (((h >> 2) & 3) << 4));
        q[128 * n + l + 64] = static_cast<uint8_t>((a[l] >> 4) | (((h >> 4) & 3) << 4));
        q[128 * n + l + 96] = static_cast<uint8_t>((a[l + 32] >> 4) | (((h >> 6) & 3) << 4));
      }
    return;
  }
  std::memcpy(hdr_d, p, 2);
  std::memcpy(hdr_dmin, p + 2, 2);
  for (int s = 0; s < 8; ++s) ScaleMinK4(s, p + 4, &sc[s], &mn[s]);
  const bool q5 = t == GgmlType::Q5_K;
  const uint8_t* qh = p + 16;
  const uint8_t* qs = p + (q5 ? 48 : 16);
  for (int j = 0; j < 4; ++j)  // 64-element groups: low nibbles sub-block 2j, high 2j + 1
    for (int l = 0; l < 32; ++l) {
      uint8_t a = qs[32 * j + l] & 0xF, b = qs[32 * j + l] >> 4;
      if (q5) {
        a = static_cast<uint8_t>(a | (((qh[l] >> (2 * j)) & 1) << 4));
        b = static_cast<uint8_t>(b | (((qh[l] >> (2 * j + 1)) & 1) << 4));
      }
      q[64 * j + l] = a;
      q[64 * j + 32 + l] = b;
    }
}

void PackKGroups(const WeightMatrix& w, int lanes, int64_t g0, int64_t g1, uint8_t* dst) {
  const int64_t L = lanes, nsb = w.cols / 256, sub = KSubBytes(w.qtype), src = KSourceBytes(w.qtype);
  const int64_t sbb = (kKHeaderBytes + 8 * sub) * L;
  const size_t gbytes = static_cast<size_t>(nsb * sbb);
  const bool q6 = w.qtype == GgmlType::Q6_K;
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* out = dst + static_cast<size_t>(g) * gbytes;
    for (int64_t k = 0; k < L; ++k) {
      const int64_t r = g * L + k;
      const uint8_t* row = r < w.rows ? w.data + static_cast<size_t>(r) * w.row_stride : nullptr;
      for (int64_t sb = 0; sb < nsb; ++sb) {
        uint8_t* o = out + sb * sbb;
        uint8_t q[256] = {}, d[2] = {}, dmin[2] = {}, sc[8] = {}, mn[8] = {};
        int8_t sc16[16] = {};
        if (row) UnpackKBlock(w.qtype, row + sb * src, q, d, dmin, sc, mn, sc16);  // else padding: all zero
        std::memcpy(o + 2 * k, d, 2);
        std::memcpy(o + 2 * L + 2 * k, dmin, 2);
        for (int i = 0; i < (q6 ? 16 : 8); ++i) {
          if (q6) o[4 * L + i * L + k] = static_cast<uint8_t>(sc16[i]);
          else o[4 * L + i * L + k] = sc[i], o[12 * L + i * L + k] = mn[i];
        }
        for (int s = 0; s < 8; ++s) {
          uint8_t* qo = o + kKHeaderBytes * L + s * sub * L;
          const uint8_t* e = q + 32 * s;
          for (int j = 0; j < 4; ++j)
            for (int b = 0; b < 4; ++b) {
              const uint8_t lo = e[4 * j + b], hi = e[16 + 4 * j + b];
              qo[j * 4 * L + 4 * k + b] = static_cast<uint8_t>((lo & 0xF) | ((hi & 0xF) << 4));
              if (w.qtype == GgmlType::Q5_K) {
                uint8_t& h = qo[16 * L + 4 * k + b];
                if (j == 0) h = 0;
                h = static_cast<uint8_t>(h | ((lo >> 4) << j) | ((hi >> 4) << (4 + j)));
              } else if (q6) {
                uint8_t& h0 = qo[16 * L + 4 * k + b];
                uint8_t& h1 = qo[20 * L + 4 * k + b];
                if (j == 0) h0 = h1 = 0;
                h0 = static_cast<uint8_t>(h0 | ((lo >> 4) << (2 * j)));
                h1 = static_cast<uint8_t>(h1 | ((hi >> 4) << (2 * j)));
              }
            }
        }
      }
    }
  }
}

// F16 / BF16 weights (safetensors dtypes or GGUF F16/BF16): 2-byte values, column-major per group.
bool IsHalf(const WeightMatrix& w) {
  return w.dtype == DType::kF16 || w.dtype == DType::kBF16 ||
         (w.dtype == DType::kGgmlBlock && (w.qtype == GgmlType::F16 || w.qtype == GgmlType::BF16));
}
}  // namespace

bool SetRepackEnabled(bool on) { return g_repack.exchange(on); }

bool CanPack(const WeightMatrix& w, int lanes) {
  if (lanes <= 0 || !w.valid() || w.cols <= 0 || w.rows <= 0) return false;
  if (IsHalf(w))  // (the opt-in bf16 F16 prefill reads the file's rows: leave F16 alone then)
    return w.row_stride == static_cast<size_t>(w.cols) * 2 &&
           !(F16PrefillBf16() && (w.dtype == DType::kF16 || w.qtype == GgmlType::F16));
  if (w.dtype != DType::kGgmlBlock || w.cols % 32 != 0) return false;
  // K-quants: unsigned quants of <= 6 bits, so maddubs never saturates: every lane count.
  if (IsKQuant(w.qtype))
    return w.cols % 256 == 0 && w.row_stride == static_cast<size_t>(w.cols / 256 * KSourceBytes(w.qtype));
  // Q8_0 is stored as q + 128 for vpdpbusd's unsigned operand; without VNNI, maddubs would
  // saturate 255 * 127 pair sums, so only VNNI kernels run it (16 lanes, AVX-512 VNNI).
  const bool fmt_ok = w.qtype == GgmlType::Q4_0 || (w.qtype == GgmlType::Q8_0 && lanes == 16 && Cpu().avx512vnni);
  return fmt_ok && w.row_stride == static_cast<size_t>(w.cols / 32 * (2 + QuantBytes(w.qtype)));
}

size_t PackedGroupBytes(const WeightMatrix& w, int lanes) {
  if (!CanPack(w, lanes)) return 0;
  if (IsHalf(w)) return static_cast<size_t>(w.cols) * 2 * static_cast<size_t>(lanes);
  if (IsKQuant(w.qtype))
    return static_cast<size_t>(w.cols / 256 * (kKHeaderBytes + 8 * KSubBytes(w.qtype))) * static_cast<size_t>(lanes);
  return static_cast<size_t>(w.cols / 32) * static_cast<size_t>(2 + QuantBytes(w.qtype)) * static_cast<size_t>(lanes);
}

void PackGroups(const WeightMatrix& w, int lanes, int64_t g0, int64_t g1, uint8_t* dst) {
  if (w.dtype == DType::kGgmlBlock && IsKQuant(w.qtype)) {
    PackKGroups(w, lanes, g0, g1, dst);
    return;
  }
  if (IsHalf(w)) {  // [cols][L] 2-byte values: column c of the group's rows is one vector
    const int64_t L = lanes, cols = w.cols;
    const size_t gbytes = PackedGroupBytes(w, lanes);
    for (int64_t g = g0; g < g1; ++g) {
      uint16_t* out = reinterpret_cast<uint16_t*>(dst + static_cast<size_t>(g) * gbytes);
      for (int64_t k = 0; k < L; ++k) {
        const int64_t r = g * L + k;
        if (r >= w.rows) {
          for (int64_t c = 0; c < cols; ++c) out[c * L + k] = 0;
          continue;
        }
        const uint8_t* row = w.data + static_cast<size_t>(r) * w.row_stride;
        for (int64_t c = 0; c < cols; ++c) std::memcpy(&out[c * L + k], row + 2 * c, 2);
      }
    }
    return;
  }
  const int64_t L = lanes, nb = w.cols / 32, qb = QuantBytes(w.qtype), chunks = qb / 4;
  const uint8_t flip = w.qtype == GgmlType::Q8_0 ? 0x80 : 0;  // Q8_0: q + 128 (= q ^ 0x80)
  const size_t gbytes = PackedGroupBytes(w, lanes);
  for (int64_t g = g0; g < g1; ++g) {
    uint8_t* out = dst + static_cast<size_t>(g) * gbytes;
    uint8_t* scales = out;               // [nb][L] fp16
    uint8_t* quants = out + nb * 2 * L;  // [nb][chunks][L][4]
    // Row by row, so each source row is one sequential read (the group is ~L1/L2 sized).
    for (int64_t k = 0; k < L; ++k) {
      const int64_t r = g * L + k;
      if (r >= w.rows) {  // padding: zero scale and quants
        for (int64_t b = 0; b < nb; ++b) {
          std::memset(scales + (b * L + k) * 2, 0, 2);
          for (int64_t j = 0; j < chunks; ++j) std::memset(quants + b * qb * L + j * 4 * L + k * 4, 0, 4);
        }
        continue;
      }
      const uint8_t* row = w.data + static_cast<size_t>(r) * w.row_stride;
      for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* blk = row + b * (2 + qb);
        std::memcpy(scales + (b * L + k) * 2, blk, 2);
        for (int64_t j = 0; j < chunks; ++j) {
          uint8_t* o = quants + b * qb * L + j * 4 * L + k * 4;
          for (int e = 0; e < 4; ++e) o[e] = blk[2 + 4 * j + e] ^ flip;
        }
      }
    }
  }
}

int KernelLanes() {
  switch (ActiveIsa()) {
    case Isa::kAvx512: return 16;
    case Isa::kAvx2: return 8;
    default: return 0;
  }
}

int PackLanesForActiveIsa() { return RepackEnabled() ? KernelLanes() : 0; }

PackedWeights::~PackedWeights() {
  if (data_) ::munmap(data_, size_);
}

std::unique_ptr<PackedWeights> PackedWeights::Pack(const std::vector<WeightMatrix*>& ws, int lanes, bool drop_source,
                                                   ThreadPool* pool) {
  std::unique_ptr<PackedWeights> p(new PackedWeights());
  if (lanes <= 0) return p;
  // One buffer; every matrix starts 64-byte aligned. Views of the same bytes (a matrix listed
  // twice) share one packed copy.
  std::vector<size_t> offset(ws.size(), SIZE_MAX);
  std::vector<size_t> same_as(ws.size(), SIZE_MAX);
  std::unordered_map<const uint8_t*, size_t> first;  // source bytes -> first matrix over them
  size_t total = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    if (!CanPack(*ws[i], lanes)) continue;
    auto [it, fresh] = first.emplace(ws[i]->data, i);
    if (!fresh && ws[it->second]->rows == ws[i]->rows && ws[it->second]->cols == ws[i]->cols) {
      same_as[i] = it->second;
      continue;
    }
    const int64_t ng = (ws[i]->rows + lanes - 1) / lanes;
    offset[i] = total;
    total += (static_cast<size_t>(ng) * PackedGroupBytes(*ws[i], lanes) + 63) / 64 * 64;
    ++p->n_;
  }
  if (total == 0) return p;
  void* mem = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    QS_LOG_WARN("weight repacking skipped: cannot map %zu bytes", total);
    p->n_ = 0;
    return p;
  }
#ifdef MADV_HUGEPAGE
  ::madvise(mem, total, MADV_HUGEPAGE);  // fewer TLB misses while decode streams the weights
#endif
  // Fault the buffer in with one call per thread (Linux >= 5.14) rather than one page fault per
  // 4 KiB page (2M of them for an 8 GiB model, costly in a VM); older kernels ignore it.
  {
    constexpr int kMadvPopulateWrite = 23;  // MADV_POPULATE_WRITE
    const size_t huge = size_t{2} << 20, n = (total + huge - 1) / huge;
    auto populate = [&](int64_t a, int64_t b, int) {
      const size_t lo = static_cast<size_t>(a) * huge, hi = std::min(total, static_cast<size_t>(b) * huge);
      if (hi > lo) ::madvise(static_cast<uint8_t*>(mem) + lo, hi - lo, kMadvPopulateWrite);
    };
    if (pool) pool->ParallelFor(static_cast<int64_t>(n), populate);
    else populate(0, static_cast<int64_t>(n), 0);
  }
  p->data_ = static_cast<uint8_t*>(mem);
  p->size_ = total;
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  Progress progress("repacking", total);
  size_t done = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    if (same_as[i] != SIZE_MAX) {
      ws[i]->packed = ws[same_as[i]]->packed;
      ws[i]->packed_lanes = lanes;
      continue;
    }
    if (offset[i] == SIZE_MAX) continue;
    WeightMatrix& w = *ws[i];
    uint8_t* dst = p->data_ + offset[i];
    const int64_t ng = (w.rows + lanes - 1) / lanes;
    if (pool) pool->ParallelFor(ng, [&](int64_t g0, int64_t g1, int) { PackGroups(w, lanes, g0, g1, dst); });
    else PackGroups(w, lanes, 0, ng, dst);
    if (drop_source) {
      // Whole pages inside the source only: a neighbouring tensor sharing a page stays mapped.
      const uintptr_t b = reinterpret_cast<uintptr_t>(w.data), e = b + w.row_stride * static_cast<size_t>(w.rows);
      const uintptr_t pb = (b + page - 1) / page * page, pe = e / page * page;
      if (pe > pb) ::madvise(reinterpret_cast<void*>(pb), pe - pb, MADV_DONTNEED);
    }
    w.packed = dst;
    w.packed_lanes = lanes;
    done += static_cast<size_t>(ng) * PackedGroupBytes(w, lanes);
    progress.Update(done);
  }
  return p;
}

}  // namespace qs
