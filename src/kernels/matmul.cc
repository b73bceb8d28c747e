#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/cpu.h"
#include "base/status.h"
#include "base/thread_pool.h"
#include "quant/fp16.h"
#include "quant/fp4.h"
#include "kernels/kernel_iface.h"
#include "kernels/ops.h"
#include "kernels/pack.h"
#include "kernels/ref/q8_ref.h"
#include "quant/quant.h"

namespace qs {

namespace {
const kern::KernelTable* KernelsFor(Isa isa);
bool DirectDesc(const WeightMatrix& w, kern::WDesc* d);
}  // namespace

WeightMatrix WeightMatrix::RowSlice(int64_t r0, int64_t n) const {
  QS_CHECK(r0 >= 0 && n >= 0 && r0 + n <= rows);
  WeightMatrix s = *this;
  s.rows = n;
  s.data = data + static_cast<size_t>(r0) * row_stride;
  if (dtype == DType::kF8E4M3 || dtype == DType::kF4E2M1) {
    QS_CHECK_MSG(r0 % block_rows == 0, "fp8/fp4 row slice must start on a scale block");
    s.scale_inv = scale_inv + (r0 / block_rows) * scale_cols;
  }
  if (packed) {
    if (r0 % packed_lanes == 0) s.packed = packed + static_cast<size_t>(r0 / packed_lanes) * PackedGroupBytes(*this, packed_lanes);
    else s.packed = nullptr, s.packed_lanes = 0;
  }
  return s;
}

void DecodeRowRangeScalar(const WeightMatrix& w, int64_t row, int64_t c0, int64_t n, float* out) {
  const uint8_t* p = w.data + static_cast<size_t>(row) * w.row_stride;
  switch (w.dtype) {
    case DType::kF32:
      std::memcpy(out, p + c0 * 4, static_cast<size_t>(n) * 4);
      return;
    case DType::kBF16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(p) + c0;
      for (int64_t i = 0; i < n; ++i) out[i] = Bf16ToF32(s[i]);
      return;
    }
    case DType::kF16: {
      const uint16_t* s = reinterpret_cast<const uint16_t*>(p) + c0;
      for (int64_t i = 0; i < n; ++i) out[i] = F16ToF32(s[i]);
      return;
    }
    case DType::kF8E4M3: {
      // weight = e4m3(code) * scale_inv[row / br][col / bc], in fp32 (DeepSeek's weight_dequant).
      const float* srow = w.scale_inv + (row / w.block_rows) * w.scale_cols;
      const float* table = Fp8E4M3Table();
      for (int64_t i = 0; i < n; ++i) {
        int64_t c = c0 + i;
        out[i] = table[p[c]] * srow[c / w.block_cols];
      }
      return;
    }
    case DType::kF4E2M1: {
      // weight = e2m1(nibble) * scale[row][col / 32]; low nibble = even column (DeepSeek-V4
      // convert.py / number_formats.json). Exact in fp32 (a 2-bit mantissa times a power of two).
      const float* srow = w.scale_inv + (row / w.block_rows) * w.scale_cols;
      const float* table = E2M1Table();
      for (int64_t i = 0; i < n; ++i) {
        const int64_t c = c0 + i;
        out[i] = table[(p[c >> 1] >> ((c & 1) * 4)) & 0xF] * srow[c / w.block_cols];
      }
      return;
    }
    case DType::kGgmlBlock: {
      // Blocks span the row, so decode it whole (bit-exact with ggml's dequantize_row_*).
      if (c0 == 0 && n == w.cols) {
        QS_CHECK(DequantizeRow(w.qtype, p, out, w.cols).ok());
        return;
      }
      thread_local std::vector<float> row;
      if (static_cast<int64_t>(row.size()) < w.cols) row.resize(static_cast<size_t>(w.cols));
      QS_CHECK(DequantizeRow(w.qtype, p, row.data(), w.cols).ok());
      std::memcpy(out, row.data() + c0, static_cast<size_t>(n) * 4);
      return;
    }
    default:
      QS_CHECK_MSG(false, "DecodeRow: unsupported dtype for " + w.name);
  }
}

void DecodeRow(const WeightMatrix& w, int64_t row, float* out) { DecodeRowRange(w, row, 0, w.cols, out); }

void DecodeRowRange(const WeightMatrix& w, int64_t row, int64_t c0, int64_t n, float* out) {
  // The float formats widen with SIMD (exact, so every ISA gives the same bits); the ggml block
  // formats keep the bit-exact scalar reference dequantizers.
  const kern::KernelTable* k = KernelsFor(ActiveIsa());
  kern::WDesc d;
  if (k && w.dtype != DType::kF32 && w.dtype != DType::kGgmlBlock && DirectDesc(w, &d)) {
    k->decode_row(d, row, c0, n, out);
    return;
  }
  DecodeRowRangeScalar(w, row, c0, n, out);
}

namespace {

// Scalar twins (the reference every SIMD path is tested against): rows widened by DecodeRow.
float DotScalar(const float* a, const float* b, int64_t n) {
  // Eight independent partial sums: enough ILP for the scalar path, fixed summation order.
  float s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) s[k] += a[i + k] * b[i + k];
  float r = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

void MatMulScalar(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t T, float* y,
                  int64_t y_stride, ThreadPool* pool) {
  const int64_t rows = w.rows, cols = w.cols;
  auto body = [&](int64_t r0, int64_t r1, int) {
    thread_local std::vector<float> buf;
    if (static_cast<int64_t>(buf.size()) < cols) buf.resize(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const float* row;
      if (w.dtype == DType::kF32) {
        row = reinterpret_cast<const float*>(w.data + static_cast<size_t>(r) * w.row_stride);
      } else {
        DecodeRow(w, r, buf.data());
        row = buf.data();
      }
      for (int64_t t = 0; t < T; ++t) y[t * y_stride + r] = DotScalar(row, x + t * x_stride, cols);
    }
  };
  if (pool == nullptr || rows * cols * T < (1 << 15)) {
    body(0, rows, 0);
  } else {
    pool->ParallelFor(rows, body, 16);
  }
}

// The F16 prefill policy unless the CLI sets one (--f16-prefill / QIUSUO_F16_PREFILL). Off: the bf16 path moves logits beyond
// the F16 golden bar of 1e-2 (dense golden F16: max |dlogit| 0.021-0.084 against 1e-6-6.7e-3 on
// the fp32 path; the DeepSeek tiny MoE goldens converted to F16: 0.07-2.3, routing flips), so
// it is opt-in until that trade (~2x F16 prefill) is decided; docs/PERFORMANCE.md has the numbers.
constexpr bool kF16PrefillBf16Default = false;

std::atomic<bool>& F16PrefillSlot() {
  static std::atomic<bool> slot{kF16PrefillBf16Default};
  return slot;
}

const kern::KernelTable* KernelsFor(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return kern::Avx512Kernels(Cpu().avx512vnni, Cpu().avx512bf16 && F16PrefillBf16());
    case Isa::kAvx2: return kern::Avx2Kernels();
    default: return nullptr;
  }
}

// The formats with a direct SIMD kernel; false means "decode rows to fp32 first".
bool DirectDesc(const WeightMatrix& w, kern::WDesc* d) {
  d->rows = w.rows;
  d->cols = w.cols;
  d->data = w.data;
  d->row_stride = w.row_stride;
  d->packed = w.packed;
  d->packed_lanes = w.packed_lanes;
  switch (w.dtype) {
    case DType::kF32: d->fmt = kern::WFmt::kF32; return true;
    case DType::kF16: d->fmt = kern::WFmt::kF16; return true;
    case DType::kBF16: d->fmt = kern::WFmt::kBF16; return true;
    case DType::kF8E4M3:
      // The kernel applies one scale per vector of 16 (or 8) columns.
      if (w.block_cols % 16 != 0 || w.block_rows <= 0) return false;
      d->fmt = kern::WFmt::kFp8;
      d->scale_inv = w.scale_inv;
      d->block_rows = w.block_rows;
      d->block_cols = w.block_cols;
      d->scale_cols = w.scale_cols;
      return true;
    case DType::kF4E2M1:
      if (w.block_cols % 16 != 0 || w.block_rows <= 0 || w.cols % 2 != 0) return false;
      d->fmt = kern::WFmt::kFp4;
      d->scale_inv = w.scale_inv;
      d->block_rows = w.block_rows;
      d->block_cols = w.block_cols;
      d->scale_cols = w.scale_cols;
      return true;
    case DType::kGgmlBlock:
      if (w.qtype == GgmlType::Q8_0) { d->fmt = kern::WFmt::kQ8_0; return true; }
      if (w.qtype == GgmlType::Q4_0) { d->fmt = kern::WFmt::kQ4_0; return true; }
      if (w.qtype == GgmlType::Q4_K) { d->fmt = kern::WFmt::kQ4_K; return true; }
      if (w.qtype == GgmlType::Q5_K) { d->fmt = kern::WFmt::kQ5_K; return true; }
      if (w.qtype == GgmlType::Q6_K) { d->fmt = kern::WFmt::kQ6_K; return true; }
      if (w.qtype == GgmlType::IQ4_NL) { d->fmt = kern::WFmt::kIQ4_NL; return true; }
      if (w.qtype == GgmlType::IQ4_XS) { d->fmt = kern::WFmt::kIQ4_XS; return true; }
      if (w.qtype == GgmlType::IQ2_XXS) { d->fmt = kern::WFmt::kIQ2_XXS; return true; }
      if (w.qtype == GgmlType::IQ2_XS) { d->fmt = kern::WFmt::kIQ2_XS; return true; }
      if (w.qtype == GgmlType::IQ2_S) { d->fmt = kern::WFmt::kIQ2_S; return true; }
      if (w.qtype == GgmlType::IQ3_XXS) { d->fmt = kern::WFmt::kIQ3_XXS; return true; }
      if (w.qtype == GgmlType::IQ3_S) { d->fmt = kern::WFmt::kIQ3_S; return true; }
      if (w.qtype == GgmlType::IQ1_S) { d->fmt = kern::WFmt::kIQ1_S; return true; }
      if (w.qtype == GgmlType::IQ1_M) { d->fmt = kern::WFmt::kIQ1_M; return true; }
      if (w.qtype == GgmlType::Q3_K) { d->fmt = kern::WFmt::kQ3_K; return true; }
      if (w.qtype == GgmlType::F32) { d->fmt = kern::WFmt::kF32; return true; }
      if (w.qtype == GgmlType::F16) { d->fmt = kern::WFmt::kF16; return true; }
      if (w.qtype == GgmlType::BF16) { d->fmt = kern::WFmt::kBF16; return true; }
      return false;
    default: return false;
  }
}

// Grow-only per-thread scratch: allocates while a model warms up, never in steady-state decode.
template <class T>
T* Scratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

bool F16PrefillBf16() { return F16PrefillSlot().load(std::memory_order_relaxed); }

bool SetF16PrefillBf16(bool on) { return F16PrefillSlot().exchange(on); }

const char* KernelName() {
  const kern::KernelTable* k = KernelsFor(ActiveIsa());
  return k ? k->name : "scalar";
}

float Dot(const float* a, const float* b, int64_t n) {
  const kern::KernelTable* k = KernelsFor(ActiveIsa());
  return k ? k->dot(a, b, n) : DotScalar(a, b, n);
}

void AttnScores(const float* q, int64_t nq, int64_t qs, const float* k, int64_t ks, int64_t S, int64_t d, float scale,
                float* out, int64_t os) {
  if (const kern::KernelTable* t = KernelsFor(ActiveIsa())) {
    t->attn_scores(q, nq, qs, k, ks, S, d, scale, out, os);
    return;
  }
  for (int64_t i = 0; i < nq; ++i)
    for (int64_t s = 0; s < S; ++s) out[i * os + s] = DotScalar(q + i * qs, k + s * ks, d) * scale;
}

void AttnWeightedSum(const float* p, int64_t ps, int64_t nq, const float* v, int64_t vs, int64_t S, int64_t d,
                     float* out, int64_t os) {
  if (const kern::KernelTable* t = KernelsFor(ActiveIsa())) {
    t->attn_wsum(p, ps, nq, v, vs, S, d, out, os);
    return;
  }
  for (int64_t i = 0; i < nq; ++i) {
    float* o = out + i * os;
    for (int64_t c = 0; c < d; ++c) o[c] = 0.f;
    for (int64_t s = 0; s < S; ++s) {
      const float a = p[i * ps + s];
      const float* vr = v + s * vs;
      for (int64_t c = 0; c < d; ++c) o[c] += a * vr[c];
    }
  }
}

void SwiGluKernel(const float* g, const float* u, int64_t n, float* out) {
  if (const kern::KernelTable* t = KernelsFor(ActiveIsa())) {
    t->swiglu(g, u, n, out);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
}

float ExpShiftKernel(float* x, int64_t n, float m) {
  if (const kern::KernelTable* t = KernelsFor(ActiveIsa())) return t->exp_shift(x, n, m);
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - m);
    s += x[i];
  }
  return s;
}

void AxpyKernel(float a, const float* x, float* y, int64_t n) {
  const kern::KernelTable* k = KernelsFor(ActiveIsa());
  if (k) {
    k->axpy(a, x, y, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

namespace {

// One job's kernel inputs: the weight descriptor, its activations (quantized once per distinct
// input, shared by the jobs that read it) and which path runs.
struct JobPlan {
  kern::WDesc d;
  kern::XDesc xd;
  bool direct = false, widen = false, quant = false, qu = false, isx = false, isx16 = false, bf16 = false;
  int64_t u0 = 0, units = 0;  // this job's 16-row units in the combined range
  size_t owner = 0;           // the job whose quantized activations this one reads
};
struct ActBuf {
  std::vector<int8_t> q;
  std::vector<uint8_t> qu;
  std::vector<float> d, s;
  std::vector<int32_t> is, is16;  // per-32 and per-16 integer sums of q_x
  std::vector<uint16_t> bf;  // activations rounded to bf16 (F16 prefill on AVX512-BF16)
};
constexpr int64_t kRowUnit = 16;  // rows per work unit: whole packed groups (16 / 8 lanes)

void RunJobRows(const kern::KernelTable* k, const MatMulJob& j, const JobPlan& p, int64_t r0, int64_t r1) {
  const WeightMatrix& w = *j.w;
  const int64_t cols = w.cols;
  if (p.direct) {
    float* scratch = nullptr;
    int64_t n = 0;
    if (p.widen) {
      thread_local std::vector<float> wbuf;
      n = kern::KernelScratchFloats(cols);
      scratch = Scratch(wbuf, static_cast<size_t>(n));
    }
    k->matmul_rows(p.d, p.xd, j.y, j.y_stride, r0, r1, scratch, n);
    return;
  }
  // Other formats: widen a cache-sized block of rows with the scalar reference decoder, then
  // run the fp32 kernel on it (the decode is paid once per row per call, shared by all T).
  thread_local std::vector<float> buf;
  // At least 8 rows (whole 4-row tiles; the 1-row tail tiles are much slower), ~128 KiB.
  const int64_t rb = std::min<int64_t>(r1 - r0, std::max<int64_t>(8, (128 * 1024) / (cols * 4)) / 4 * 4);
  float* b = Scratch(buf, static_cast<size_t>(rb * cols));
  kern::WDesc f;
  f.fmt = kern::WFmt::kF32;
  f.cols = cols;
  f.data = reinterpret_cast<const uint8_t*>(b);
  f.row_stride = static_cast<size_t>(cols) * 4;
  for (int64_t b0 = r0; b0 < r1; b0 += rb) {
    const int64_t n = std::min(rb, r1 - b0);
    for (int64_t r = 0; r < n; ++r) DecodeRow(w, b0 + r, b + r * cols);
    f.rows = n;
    k->matmul_rows(f, p.xd, j.y + b0, j.y_stride, 0, n, nullptr, 0);
  }
}

}  // namespace

void MatMul(const WeightMatrix& w, const float* x, int64_t x_stride, int64_t T, float* y,
            int64_t y_stride, ThreadPool* pool) {
  const MatMulJob job{&w, x, x_stride, T, y, y_stride};
  MatMulMany(&job, 1, pool);
}

void MatMulMany(const MatMulJob* jobs, int64_t n_jobs, ThreadPool* pool) {
  const kern::KernelTable* k = KernelsFor(ActiveIsa());
  if (k == nullptr) {
    for (int64_t i = 0; i < n_jobs; ++i)
      if (jobs[i].T > 0) MatMulScalar(*jobs[i].w, jobs[i].x, jobs[i].x_stride, jobs[i].T, jobs[i].y, jobs[i].y_stride, pool);
    return;
  }
  // Unpacked int formats (the K-quants; Q4_0 / Q8_0 left in the file layout) at T = 2..3: the
  // decode tiles for several tokens measured 3.4-3.6x the one-token kernel per matrix
  // (kernel_bench, q6_k / q4_0, 16384 x 2048), so each token runs the one-token kernel instead:
  // 2x, and the rows come out as plain decoding computes them. This is the output head of Q4_0
  // GGUFs (Q6_K) in speculative decoding's verification of 1-2 drafts (runtime/speculative.h).
  {
    bool split = false;
    for (int64_t i = 0; i < n_jobs && !split; ++i) {
      kern::WDesc d;
      split = jobs[i].T > 1 && jobs[i].T < kern::kDequantMinT && DirectDesc(*jobs[i].w, &d) &&
              kern::IsIntFormat(d.fmt) && !(d.packed != nullptr && d.packed_lanes == KernelLanes());
    }
    if (split) {
      std::vector<MatMulJob> one;
      for (int64_t i = 0; i < n_jobs; ++i) {
        const MatMulJob& j = jobs[i];
        kern::WDesc d;
        const bool s = j.T > 1 && j.T < kern::kDequantMinT && DirectDesc(*j.w, &d) && kern::IsIntFormat(d.fmt) &&
                       !(d.packed != nullptr && d.packed_lanes == KernelLanes());
        if (!s) {
          one.push_back(j);
          continue;
        }
        for (int64_t t = 0; t < j.T; ++t) one.push_back({j.w, j.x + t * j.x_stride, j.x_stride, 1, j.y + t * j.y_stride, j.y_stride});
      }
      MatMulMany(one.data(), static_cast<int64_t>(one.size()), pool);
      return;
    }
  }
  // Grow-only per thread (MatMul also runs inside other ParallelFor bodies, e.g. MLA's heads).
  thread_local std::vector<JobPlan> plans;
  thread_local std::vector<ActBuf> bufs;
  if (plans.size() < static_cast<size_t>(n_jobs)) plans.resize(static_cast<size_t>(n_jobs));
  int64_t units = 0, work = 0;
  for (int64_t i = 0; i < n_jobs; ++i) {
    const MatMulJob& j = jobs[i];
    JobPlan& p = plans[i];
    p = JobPlan();
    p.direct = DirectDesc(*j.w, &p.d);
    p.xd.x = j.x;
    p.xd.x_stride = j.x_stride;
    p.xd.T = j.T;
    // Int formats multiply activations quantized like llama.cpp's (per 32, int8) at every T:
    // decode tiles on q_x; prefill (T >= kDequantMinT) the int8 tile on q_x + 128; matrices
    // repacked at load (kernels/pack.h) one kernel for both, on q_x and its integer sums.
    const bool is_int = p.direct && kern::IsIntFormat(p.d.fmt);
    const bool packed = is_int && p.d.packed != nullptr && p.d.packed_lanes == KernelLanes();
    p.quant = is_int;
    p.qu = is_int && j.T >= kern::kDequantMinT && !packed;
    p.isx = packed;
    p.isx16 = packed && p.d.fmt == kern::WFmt::kQ6_K;  // Q6_K's -32 offset per 16-element half
    // F16 prefill on an AVX512-BF16 table (k->round_bf16, see F16PrefillBf16): activations
    // rounded to bf16 once per job for gemm_bf16.h's vdpbf16ps tile. BF16/F32/FP8 weights keep
    // fp32 activations (e.g. the DeepSeek checkpoints' 1e-4 golden bar).
    p.bf16 = p.direct && p.d.fmt == kern::WFmt::kF16 && j.T >= kern::kDequantMinT && k->round_bf16 != nullptr;
    p.widen = p.qu || p.bf16;
    p.owner = static_cast<size_t>(i);
    if (p.quant)  // jobs reading the same activations quantize them once
      for (int64_t o = 0; o < i; ++o) {
        const MatMulJob& jo = jobs[o];
        if (plans[o].quant && plans[o].owner == static_cast<size_t>(o) && jo.x == j.x && jo.x_stride == j.x_stride &&
            jo.T == j.T && jo.w->cols == j.w->cols) {
          p.owner = static_cast<size_t>(o);
          plans[o].qu |= p.qu;
          plans[o].isx |= p.isx;
          plans[o].isx16 |= p.isx16;
          break;
        }
      }
    p.u0 = units;
    p.units = j.T > 0 ? (j.w->rows + kRowUnit - 1) / kRowUnit : 0;
    units += p.units;
    work += j.w->rows * j.w->cols * j.T;
  }
  size_t nbuf = 0;
  for (int64_t i = 0; i < n_jobs; ++i) {
    JobPlan& p = plans[i];
    if (!p.quant || p.owner != static_cast<size_t>(i) || jobs[i].T <= 0) continue;
    const MatMulJob& j = jobs[i];
    if (bufs.size() <= nbuf) bufs.resize(nbuf + 1);
    ActBuf& a = bufs[nbuf++];
    const int64_t T = j.T, cols = j.w->cols, nb = cols / 32;  // rows are whole 32-blocks
    int8_t* q = Scratch(a.q, static_cast<size_t>(T * cols));
    uint8_t* qu = p.qu ? Scratch(a.qu, static_cast<size_t>(T * cols)) : nullptr;
    float* dd = Scratch(a.d, static_cast<size_t>(T * nb));
    float* sx = Scratch(a.s, static_cast<size_t>(T * nb));
    int32_t* isx = p.isx ? Scratch(a.is, static_cast<size_t>(T * nb)) : nullptr;
    int32_t* isx16 = p.isx16 ? Scratch(a.is16, static_cast<size_t>(T * nb * 2)) : nullptr;
    auto quant = [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) {
        k->quantize_q8(j.x + t * j.x_stride, cols, q + t * cols, qu ? qu + t * cols : nullptr, dd + t * nb, sx + t * nb,
                       isx ? isx + t * nb : nullptr);
        if (isx16) {
          const int8_t* qt = q + t * cols;
          for (int64_t h = 0; h < 2 * nb; ++h) {
            int32_t sum = 0;
            for (int e = 0; e < 16; ++e) sum += qt[16 * h + e];
            isx16[t * 2 * nb + h] = sum;
          }
        }
      }
    };
    if (pool && T > 1) pool->ParallelFor(T, quant);
    else quant(0, T, 0);
    p.xd.qx = q;
    p.xd.dx = dd;
    p.xd.sx = sx;
    p.xd.isx = isx;
    p.xd.isx16 = isx16;
    p.xd.qx_stride = cols;
    p.xd.dx_stride = nb;
    p.xd.qxu = qu;  // its presence selects the prefill int8 tile (kernel_iface.h)
  }
  for (int64_t i = 0; i < n_jobs; ++i) {
    JobPlan& p = plans[i];
    if (!p.quant || p.owner == static_cast<size_t>(i)) continue;
    const kern::XDesc& o = plans[p.owner].xd;
    p.xd.qx = o.qx;
    p.xd.dx = o.dx;
    p.xd.sx = o.sx;
    p.xd.isx = p.isx ? o.isx : nullptr;
    p.xd.isx16 = p.isx16 ? o.isx16 : nullptr;
    p.xd.qxu = p.qu ? o.qxu : nullptr;
    p.xd.qx_stride = o.qx_stride;
    p.xd.dx_stride = o.dx_stride;
  }
  for (int64_t i = 0; i < n_jobs; ++i) {
    JobPlan& p = plans[i];
    if (!p.bf16) continue;
    const MatMulJob& j = jobs[i];
    if (bufs.size() <= nbuf) bufs.resize(nbuf + 1);
    ActBuf& a = bufs[nbuf++];
    const int64_t cols = j.w->cols, bs = cols + (cols & 1);  // whole pairs (round_bf16 pads with +0)
    uint16_t* xb = Scratch(a.bf, static_cast<size_t>(j.T * bs));
    auto round = [&](int64_t t0, int64_t t1, int) {
      for (int64_t t = t0; t < t1; ++t) k->round_bf16(j.x + t * j.x_stride, cols, xb + t * bs);
    };
    if (pool) pool->ParallelFor(j.T, round);
    else round(0, j.T, 0);
    p.xd.xbf = xb;
    p.xd.xbf_stride = bs;
  }
  for (int64_t i = 0; i < n_jobs; ++i)  // an owner that made q_x + 128 only for its sharers
    if (plans[i].quant && plans[i].owner == static_cast<size_t>(i) && !plans[i].widen) plans[i].xd.qxu = nullptr;
  if (pool == nullptr || work < (1 << 15)) {
    for (int64_t i = 0; i < n_jobs; ++i)
      if (plans[i].units > 0) RunJobRows(k, jobs[i], plans[i], 0, jobs[i].w->rows);
    return;
  }
  // All jobs' rows as one range of 16-row units, split over the threads in one parallel region
  // (one synchronisation for e.g. all of a token's experts instead of one per matrix).
  const JobPlan* pl = plans.data();
  pool->ParallelFor(units, [&](int64_t u0, int64_t u1, int) {
    for (int64_t i = 0; i < n_jobs; ++i) {
      const JobPlan& p = pl[i];
      const int64_t a = std::max(u0, p.u0), b = std::min(u1, p.u0 + p.units);
      if (a >= b) continue;
      RunJobRows(k, jobs[i], p, (a - p.u0) * kRowUnit, std::min((b - p.u0) * kRowUnit, jobs[i].w->rows));
    }
  });
}

}  // namespace qs
