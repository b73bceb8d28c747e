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
  // Q8_0 is stored as q + 128 for vpdpbusd's unsigned operand; without VNNI, maddubs would
  // saturate 255 * 127 pair sums, so only VNNI kernels run it (16 lanes, AVX-512 VNNI).
  const bool fmt_ok = w.qtype == GgmlType::Q4_0 || (w.qtype == GgmlType::Q8_0 && lanes == 16 && Cpu().avx512vnni);
  return fmt_ok && w.row_stride == static_cast<size_t>(w.cols / 32 * (2 + QuantBytes(w.qtype)));
}

size_t PackedGroupBytes(const WeightMatrix& w, int lanes) {
  if (!CanPack(w, lanes)) return 0;
  if (IsHalf(w)) return static_cast<size_t>(w.cols) * 2 * static_cast<size_t>(lanes);
  return static_cast<size_t>(w.cols / 32) * static_cast<size_t>(2 + QuantBytes(w.qtype)) * static_cast<size_t>(lanes);
}

void PackGroups(const WeightMatrix& w, int lanes, int64_t g0, int64_t g1, uint8_t* dst) {
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
