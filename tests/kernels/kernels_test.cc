// Every SIMD path the machine has (AVX2, AVX-512, AVX-512 VNNI) against the scalar twin, for every
// weight format, with decode (T = 1) and prefill tiles (T = 2..7, odd row counts and column tails);
// the AVX512-BF16 F16 prefill against its own bf16 twin (Bf16Prefill, bounds there).
//
// Tolerances, derived from the formats:
//  * fp32-activation paths (F32/F16/BF16/FP8 and the formats widened to fp32): SIMD and scalar
//    compute the same n products of exactly widened weights (FP8: code * block scale, one rounding,
//    identical in both), and differ only in summation order. Any order of n fp32 additions is
//    within (n-1) u sum|w_c x_c| of the exact sum (u = 2^-24, Higham, "Accuracy and Stability of
//    Numerical Algorithms", 4.2), so two orders differ by at most 2 n u sum|w x|.
//  * Q8_0 / Q4_0 (int8 activations): (a) against the scalar twin of the same algorithm
//    (kern::ref::DotQ8Row), the block sums are exact integers and only the fp32 accumulation of
//    nb block terms differs: 2 (nb + 8) u sum_b |d_w d_x acc_b|, bounded here by the same
//    2 n u sum|w x|-style bound on the dequantized values plus the quantized-activation terms;
//    (b) against fp32 activations, each activation moves by at most d_x/2 when rounded to int8
//    (plus the fp16 rounding of d_x, see below), so |y - y_fp32| <= sum_c |w_c| ~0.56 d_x(c).
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "base/cpu.h"
#include "base/thread_pool.h"
#include "kernels/kernel_iface.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "kernels/pack.h"
#include "kernels/kernel_test_util.h"
#include "kernels/ref/q8_ref.h"
#include "quant/fp16.h"
#include "quant/quant.h"

namespace qs {
namespace {

using kernel_test::kU;
using kernel_test::RandomX;
using kernel_test::SimdIsas;


struct Case {
  std::string label;
  WeightMatrix w;
  std::vector<uint8_t> bytes;
  std::vector<float> scales;
};

// Builds a [rows, cols] weight of `kind` from random values (kept alive by the Case).
Case MakeWeight(const std::string& kind, int64_t rows, int64_t cols, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.f, 0.5f);
  std::vector<float> v(static_cast<size_t>(rows * cols));
  for (auto& f : v) f = nd(rng);
  Case c;
  c.label = kind;
  WeightMatrix& w = c.w;
  w.name = kind;
  w.rows = rows;
  w.cols = cols;
  auto fill16 = [&](uint16_t (*conv)(float)) {
    c.bytes.resize(v.size() * 2);
    for (size_t i = 0; i < v.size(); ++i) {
      uint16_t h = conv(v[i]);
      std::memcpy(&c.bytes[i * 2], &h, 2);
    }
    w.row_stride = static_cast<size_t>(cols) * 2;
  };
  if (kind == "f32") {
    w.dtype = DType::kF32;
    c.bytes.resize(v.size() * 4);
    std::memcpy(c.bytes.data(), v.data(), c.bytes.size());
    w.row_stride = static_cast<size_t>(cols) * 4;
  } else if (kind == "f16") {
    w.dtype = DType::kF16;
    fill16(&F32ToF16);
  } else if (kind == "bf16") {
    w.dtype = DType::kBF16;
    fill16(&F32ToBf16);
  } else if (kind == "fp8") {
    w.dtype = DType::kF8E4M3;
    c.bytes.resize(v.size());
    for (size_t i = 0; i < v.size(); ++i) c.bytes[i] = F32ToFp8E4M3(v[i] * 200.f);
    w.row_stride = static_cast<size_t>(cols);
    w.block_rows = w.block_cols = 128;
    w.scale_cols = (cols + 127) / 128;
    c.scales.resize(static_cast<size_t>(((rows + 127) / 128) * w.scale_cols));
    std::uniform_real_distribution<float> ud(0.001f, 0.01f);
    for (auto& s : c.scales) s = ud(rng);
  } else if (kind.rfind("iq", 0) == 0) {
    // No i-quant writer yet: random indices, signs and scales under a valid fp16 block scale.
    const GgmlType t = GgmlTypeFromName(kind).value();
    w.dtype = DType::kGgmlBlock;
    w.qtype = t;
    w.row_stride = GgmlRowSize(t, cols).value();
    c.bytes.resize(w.row_stride * static_cast<size_t>(rows));
    const int64_t bs = static_cast<int64_t>(GgmlTraits(t).type_size);
    std::uniform_real_distribution<float> ud(0.0005f, 0.002f);
    for (size_t b = 0; b < c.bytes.size() / bs; ++b) {
      uint8_t* p = &c.bytes[b * bs];
      for (int64_t i = 0; i < bs; ++i) p[i] = static_cast<uint8_t>(rng());
      const uint16_t h = F32ToF16(ud(rng) * (t == GgmlType::IQ4_NL ? 16.f : 1.f));
      if (t == GgmlType::IQ1_M) {  // fp16 d in the top nibbles of the four scale words
        for (int k = 0; k < 4; ++k) {
          uint16_t sc;
          std::memcpy(&sc, p + 48 + 2 * k, 2);
          sc = static_cast<uint16_t>((sc & 0x0FFF) | (((h >> (4 * k)) & 0xF) << 12));
          std::memcpy(p + 48 + 2 * k, &sc, 2);
        }
      } else {
        std::memcpy(p, &h, 2);
      }
    }
  } else {
    GgmlType t = kind == "q8_0" ? GgmlType::Q8_0 : kind == "q4_0" ? GgmlType::Q4_0 : kind == "q4_k" ? GgmlType::Q4_K
               : kind == "q5_k" ? GgmlType::Q5_K : kind == "q6_k" ? GgmlType::Q6_K : kind == "q5_0" ? GgmlType::Q5_0
               : kind == "q3_k" ? GgmlType::Q3_K : kind == "q2_k" ? GgmlType::Q2_K : GgmlType::Q4_1;
    w.dtype = DType::kGgmlBlock;
    w.qtype = t;
    w.row_stride = GgmlRowSize(t, cols).value();
    c.bytes.resize(w.row_stride * static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r)
      EXPECT_TRUE(QuantizeRow(t, &v[static_cast<size_t>(r * cols)], &c.bytes[r * w.row_stride], cols).ok());
  }
  w.data = c.bytes.data();
  w.scale_inv = c.scales.empty() ? nullptr : c.scales.data();
  return c;
}

// sum_c |w_c x_c| for every (t, r), from the exact widened weights.
std::vector<double> AbsDots(const WeightMatrix& w, const std::vector<float>& x, int64_t T) {
  std::vector<double> out(static_cast<size_t>(T * w.rows));
  std::vector<float> row(static_cast<size_t>(w.cols));
  for (int64_t r = 0; r < w.rows; ++r) {
    DecodeRow(w, r, row.data());
    for (int64_t t = 0; t < T; ++t) {
      double s = 0;
      for (int64_t c = 0; c < w.cols; ++c) s += std::fabs(static_cast<double>(row[c]) * x[t * w.cols + c]);
      out[t * w.rows + r] = s;
    }
  }
  return out;
}

std::vector<float> RunMatMul(const WeightMatrix& w, const std::vector<float>& x, int64_t T, Isa isa, ThreadPool* pool) {
  const Isa prev = SetIsaCap(isa);
  std::vector<float> y(static_cast<size_t>(T * w.rows), -1.f);
  MatMul(w, x.data(), T, y.data(), pool);
  SetIsaCap(prev);
  return y;
}

// Sets the F16 prefill policy (matmul.h F16PrefillBf16) for a scope, restored on any exit.
struct F16PrefillScope {
  explicit F16PrefillScope(bool on) : prev(SetF16PrefillBf16(on)) {}
  ~F16PrefillScope() { SetF16PrefillBf16(prev); }
  bool prev;
};

class FloatFormats : public ::testing::TestWithParam<std::string> {};

// fp32-activation formats (and the formats widened to fp32) vs the scalar twin. F16 prefill
// is pinned to its fp32 path (QIUSUO_F16_PREFILL=fp32); its bf16 path is tested below.
TEST_P(FloatFormats, MatchScalarTwin) {
  std::mt19937 rng(7);
  ThreadPool pool(2);
  F16PrefillScope fp32_prefill(false);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 200}, {64, 256}, {130, 512}}) {
    const bool ggml = GetParam().rfind("q", 0) == 0;
    if (ggml && cols % 256 != 0) continue;  // K-quants need whole 256-blocks
    Case c = MakeWeight(GetParam(), rows, cols, rng);
    for (int64_t T : {1, 2, 3, 4, 7}) {
      auto x = RandomX(T, cols, rng);
      auto ref = RunMatMul(c.w, x, T, Isa::kScalar, nullptr);
      auto bound = AbsDots(c.w, x, T);
      for (Isa isa : SimdIsas()) {
        for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
          auto y = RunMatMul(c.w, x, T, isa, p);
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_LE(std::fabs(y[i] - ref[i]), 2.0 * cols * kU * bound[i] + 1e-30)
                << c.label << " " << IsaName(isa) << " rows=" << rows << " cols=" << cols << " T=" << T << " i=" << i;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, FloatFormats,
                         // (q2_k: the widened K-quant; q3_k has int8 kernels since issue 16, IntFormats)
                         ::testing::Values("f32", "f16", "bf16", "fp8", "q4_1", "q5_0", "q2_k"));

class IntFormats : public ::testing::TestWithParam<std::string> {};

// Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K with int8 activations: every kernel table (AVX2, AVX-512 with and without VNNI)
// vs the scalar twin of the integer algorithm, and MatMul vs fp32 activations within the
// activation-rounding bound.
TEST_P(IntFormats, MatchScalarTwinAndFp32Bound) {
  std::mt19937 rng(11);
  std::vector<const kern::KernelTable*> tables;
  if (Cpu().max_isa >= Isa::kAvx2) tables.push_back(kern::Avx2Kernels());
  if (Cpu().max_isa >= Isa::kAvx512) {
    tables.push_back(kern::Avx512Kernels(false, false));
    if (Cpu().avx512vnni) tables.push_back(kern::Avx512Kernels(true, false));
  }
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 96}, {64, 256}, {131, 1024}}) {
    const std::string& f = GetParam();
    if (f != "q8_0" && f != "q4_0" && f != "iq4_nl" && cols % 256 != 0) continue;  // whole 256-element super-blocks
    Case c = MakeWeight(GetParam(), rows, cols, rng);
    const char* kNames[] = {"q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs", "iq2_xxs", "iq2_xs",
                            "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m", "q3_k"};  // WFmt order from kQ8_0
    int fi = 0;
    while (f != kNames[fi]) ++fi;
    const kern::WFmt fmt = static_cast<kern::WFmt>(static_cast<int>(kern::WFmt::kQ8_0) + fi);
    for (int64_t T : {1, 2, 3, 4, 7}) {
      auto x = RandomX(T, cols, rng);
      const int64_t nb = cols / 32;
      std::vector<int8_t> qx(static_cast<size_t>(T * cols));
      std::vector<float> dx(static_cast<size_t>(T * nb)), sx(dx.size());
      for (int64_t t = 0; t < T; ++t)
        kern::ref::QuantizeActsQ8(&x[t * cols], cols, &qx[t * cols], &dx[t * nb], &sx[t * nb]);
      // Dequantized activations: the twin's exact operands.
      std::vector<float> xq(x.size());
      for (size_t i = 0; i < x.size(); ++i) xq[i] = qx[i] * dx[i / 32];
      auto bound_q = AbsDots(c.w, xq, T);
      if (fmt == kern::WFmt::kQ4_0) {
        // The kernel sums d_w d_x (q+8) x_q and d_w d_x 8 x_q separately and subtracts: its
        // rounding scales with sum |d_w| (|q+8| + 8) |x_q| <= sum |d_w| 23 |x_q|, not with |w x|.
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t t = 0; t < T; ++t) {
            double b = 0;
            for (int64_t blk = 0; blk < nb; ++blk) {
              uint16_t h;
              std::memcpy(&h, c.w.data + r * c.w.row_stride + blk * 18, 2);
              for (int j = 0; j < 32; ++j) b += std::fabs(F16ToF32(h)) * 23.0 * std::fabs(xq[t * cols + blk * 32 + j]);
            }
            bound_q[t * rows + r] = b;
          }
        }
      }
      if (fmt == kern::WFmt::kQ4_K || fmt == kern::WFmt::kQ5_K) {
        // w = d sc q - dmin m: the kernel sums the two parts separately, so its rounding scales
        // with |d sc q| + |dmin m| <= |w| + 2 |dmin m|, and |dmin m| <= max |w| over the
        // 32-element sub-block (the min is the sub-block's smallest value, up to rounding).
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          DecodeRow(c.w, r, row.data());
          for (int64_t t = 0; t < T; ++t) {
            double b = 0;
            for (int64_t blk = 0; blk < nb; ++blk) {
              double mx = 0;
              for (int j = 0; j < 32; ++j) mx = std::max(mx, std::fabs(static_cast<double>(row[blk * 32 + j])));
              for (int j = 0; j < 32; ++j) b += (std::fabs(row[blk * 32 + j]) + 2 * mx) * std::fabs(xq[t * cols + blk * 32 + j]);
            }
            bound_q[t * rows + r] = b;
          }
        }
      }
      std::vector<float> twin(static_cast<size_t>(T * rows));
      for (int64_t t = 0; t < T; ++t)
        for (int64_t r = 0; r < rows; ++r)
          twin[t * rows + r] = kern::ref::DotQ8Row(fmt, c.w.data + r * c.w.row_stride, &qx[t * cols], &dx[t * nb], nb);
      kern::WDesc d;
      d.fmt = fmt;
      d.rows = rows;
      d.cols = cols;
      d.data = c.w.data;
      d.row_stride = c.w.row_stride;
      kern::XDesc xd;
      xd.x = x.data();
      xd.x_stride = cols;
      xd.T = T;
      xd.qx = qx.data();
      xd.dx = dx.data();
      xd.sx = sx.data();
      xd.qx_stride = cols;
      xd.dx_stride = nb;
      for (const kern::KernelTable* k : tables) {
        std::vector<float> y(twin.size(), -1.f);
        k->matmul_rows(d, xd, y.data(), rows, 0, rows, nullptr, 0);  // no scratch: int8 tiles for every T
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_LE(std::fabs(y[i] - twin[i]), 2.0 * cols * kU * bound_q[i] + 1e-30)
              << c.label << " " << k->name << " rows=" << rows << " T=" << T << " i=" << i;
      }
      if (T >= kern::kDequantMinT) {
        // The prefill int8 tile (rows repacked into scratch, activations as q_x + 128): exact
        // integer block sums like the twin, the same scales, mins taken off per block like the
        // decode tile, so the same bound. Scratch of exactly two 16-row groups (at the largest,
        // Q6_K layout: 48 bytes per row and 32 columns) forces several repacked row blocks;
        // the full size covers the usual case.
        std::vector<uint8_t> qxu(qx.size());
        for (size_t i = 0; i < qx.size(); ++i) qxu[i] = static_cast<uint8_t>(qx[i] ^ 0x80);
        kern::XDesc xu = xd;
        xu.qxu = qxu.data();
        for (int64_t sn : {2 * nb * 768 / 4, kern::KernelScratchFloats(cols)}) {
          std::vector<float> scratch(static_cast<size_t>(sn));
          for (const kern::KernelTable* k : tables) {
            std::vector<float> y(twin.size(), -1.f);
            k->matmul_rows(d, xu, y.data(), rows, 0, rows, scratch.data(), sn);
            for (size_t i = 0; i < y.size(); ++i)
              ASSERT_LE(std::fabs(y[i] - twin[i]), 2.0 * cols * kU * bound_q[i] + 1e-30)
                  << c.label << " int8 prefill " << k->name << " rows=" << rows << " T=" << T << " i=" << i;
            // A row range inside the matrix (tiles that start mid-matrix and end in a partial group).
            std::vector<float> y2(twin.size(), -1.f);
            const int64_t r0 = 3, r1 = rows - 2;
            k->matmul_rows(d, xu, y2.data(), rows, r0, r1, scratch.data(), sn);
            for (int64_t t = 0; t < T; ++t)
              for (int64_t r = 0; r < rows; ++r) {
                const size_t i = static_cast<size_t>(t * rows + r);
                if (r < r0 || r >= r1) ASSERT_EQ(y2[i], -1.f) << "row " << r << " written outside [r0, r1)";
                else ASSERT_EQ(y2[i], y[i]) << c.label << " int8 prefill row range " << k->name;
              }
          }
        }
      }
      {
        // Q4_0 / Q8_0 / Q4_K / Q5_K / Q6_K repacked at load (kernels/pack.h): the same exact
        // integer block sums and scales as the twin (K-quants: d * sc exact in fp32, Q6_K's
        // -32 offset taken off the exact integer sum per 16-element half, Q4_K/Q5_K's min per
        // block as in the decode tile), for decode and prefill alike, so the same bound; every
        // group size the tables run (8 on AVX2, 16 on AVX-512; Q8_0 only with VNNI), whole
        // matrices and row ranges starting on a group.
        std::vector<int32_t> isx(dx.size());
        for (size_t b = 0; b < isx.size(); ++b) {
          int32_t sum = 0;
          for (int j = 0; j < 32; ++j) sum += qx[b * 32 + j];
          isx[b] = sum;
        }
        std::vector<int32_t> isx16(2 * dx.size());
        for (size_t h = 0; h < isx16.size(); ++h) {
          int32_t sum = 0;
          for (int j = 0; j < 16; ++j) sum += qx[h * 16 + j];
          isx16[h] = sum;
        }
        kern::XDesc xp = xd;
        xp.isx = isx.data();
        xp.isx16 = isx16.data();
        for (const kern::KernelTable* k : tables) {
          const int lanes = std::string(k->name) == "avx2" ? 8 : 16;
          if (!CanPack(c.w, lanes) || (fmt == kern::WFmt::kQ8_0 && std::string(k->name) != "avx512-vnni")) continue;
          const int64_t ng = (rows + lanes - 1) / lanes;
          std::vector<uint8_t> pk(static_cast<size_t>(ng) * PackedGroupBytes(c.w, lanes), 0xEE);
          PackGroups(c.w, lanes, 0, ng, pk.data());
          kern::WDesc dp = d;
          dp.packed = pk.data();
          dp.packed_lanes = lanes;
          std::vector<float> y(twin.size(), -1.f);
          k->matmul_rows(dp, xp, y.data(), rows, 0, rows, nullptr, 0);
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_LE(std::fabs(y[i] - twin[i]), 2.0 * cols * kU * bound_q[i] + 1e-30)
                << c.label << " packed " << k->name << " rows=" << rows << " T=" << T << " i=" << i;
          const int64_t r0 = lanes, r1 = rows - 2;
          std::vector<float> y2(twin.size(), -1.f);
          k->matmul_rows(dp, xp, y2.data(), rows, r0, r1, nullptr, 0);
          for (int64_t t = 0; t < T; ++t)
            for (int64_t r = 0; r < rows; ++r) {
              const size_t i = static_cast<size_t>(t * rows + r);
              if (r < r0 || r >= r1) ASSERT_EQ(y2[i], -1.f) << "row " << r << " written outside [r0, r1)";
              else ASSERT_EQ(y2[i], y[i]) << c.label << " packed row range " << k->name;
            }
        }
      }
      // Whole MatMul vs the scalar path (fp32 activations, reference dequantizer): int8
      // activations at every T (decode tile for T < 4, the int8 prefill tile from kDequantMinT
      // on), so within the activation-rounding bound.
      if (tables.empty()) continue;
      auto ref = RunMatMul(c.w, x, T, Isa::kScalar, nullptr);
      for (Isa isa : SimdIsas()) {
        auto y = RunMatMul(c.w, x, T, isa, nullptr);
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = 0; r < rows; ++r) {
          DecodeRow(c.w, r, row.data());
          for (int64_t t = 0; t < T; ++t) {
            const size_t i = static_cast<size_t>(t * rows + r);
            double b = 0;
            {  // |x - q d| <= |x - q amax/127| + |q| |d - amax/127| <= d/2 + 127 d 2^-11 (d is
              // amax/127 rounded to fp16: relative error <= 2^-11), up to a factor 1 + 2^-11.
              for (int64_t col = 0; col < cols; ++col)
                b += std::fabs(row[col]) * dx[t * nb + col / 32] * (0.5 + 127.0 / 2048) * (1 + 1.0 / 2048);
              b += 4.0 * cols * kU * bound_q[i];
            }
            ASSERT_LE(std::fabs(y[i] - ref[i]), b) << c.label << " " << IsaName(isa) << " rows=" << rows << " T=" << T << " r=" << r;
          }
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Kernels, IntFormats,
                         ::testing::Values("q8_0", "q4_0", "q4_k", "q5_k", "q6_k", "iq4_nl", "iq4_xs", "iq2_xxs",
                                           "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m", "q3_k"));

// A Q4_0 / Q8_0 / F16 / BF16 matrix repacked through PackedWeights (as models are at load) gives MatMul the same
// results as the unpacked matrix at every ISA level (both are exact integer block sums with the
// same scales; only fp32 accumulation order differs), including a level the packing was not made
// for (it falls back to the unpacked kernels), row slices, and T from decode to prefill.
TEST(Kernels, PackedMatMul) {
  std::mt19937 rng(21);
  ThreadPool pool(2);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 96}, {256, 1024}})
  for (const char* fmt : {"q4_0", "q8_0", "f16", "bf16", "q4_k", "q5_k", "q6_k"}) {
    if (std::string(fmt).back() == 'k' && cols % 256 != 0) continue;  // whole super-blocks
    Case c = MakeWeight(fmt, rows, cols, rng);
    for (int lanes : {8, 16}) {
      if (!CanPack(c.w, lanes)) continue;  // Q8_0: AVX-512 VNNI only
      WeightMatrix w = c.w;
      std::vector<WeightMatrix*> ws = {&w};
      auto packed = PackedWeights::Pack(ws, lanes, /*drop_source=*/false, &pool);
      ASSERT_EQ(packed->matrices(), 1);
      ASSERT_EQ(w.packed_lanes, lanes);
      for (int64_t T : {1, 2, 3, 4, 7, 33}) {
        auto x = RandomX(T, cols, rng);
        for (Isa isa : SimdIsas()) {
          for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
            auto ref = RunMatMul(c.w, x, T, isa, p);
            auto y = RunMatMul(w, x, T, isa, p);
            auto bound = AbsDots(c.w, x, T);
            if (std::string(fmt).back() == 'k') {
              // K-quants: w = d sc q - dmin m summed as two parts, so bound with |w| + 2 max|w|
              // over the sub-block (as IntFormats above).
              std::vector<float> row(static_cast<size_t>(cols));
              for (int64_t r = 0; r < rows; ++r) {
                DecodeRow(c.w, r, row.data());
                for (int64_t t = 0; t < T; ++t) {
                  double b = 0;
                  for (int64_t blk = 0; blk < cols / 32; ++blk) {
                    double mx = 0;
                    for (int j = 0; j < 32; ++j) mx = std::max(mx, std::fabs(static_cast<double>(row[blk * 32 + j])));
                    for (int j = 0; j < 32; ++j) b += (std::fabs(row[blk * 32 + j]) + 2 * mx) * std::fabs(x[t * cols + blk * 32 + j]);
                  }
                  bound[t * rows + r] = b;
                }
              }
            }
            for (size_t i = 0; i < y.size(); ++i)
              // Half formats: exact products in fp32 in two orders, 2 n u sum|w x| apart. Q4_0 /
              // Q8_0: int8 activations, exact block sums, fp32 sums of d_w d_x dot_b in two orders
              // (bounded with Q4_0's |q - 8| <= 23 |w| / d_w style factor as above).
              ASSERT_LE(std::fabs(y[i] - ref[i]), (fmt[0] == 'q' ? 4.0 * 23 : 2.0) * cols * kU * bound[i] + 1e-30)
                  << fmt << " lanes " << lanes << " " << IsaName(isa) << " rows=" << rows << " T=" << T << " i=" << i;
          }
        }
        // A row slice starting on a group keeps the packed rows; one starting elsewhere drops them.
        const WeightMatrix s1 = w.RowSlice(lanes, rows - lanes - 1), s2 = w.RowSlice(3, rows - 5);
        EXPECT_NE(s1.packed, nullptr);
        EXPECT_EQ(s2.packed, nullptr);
        for (Isa isa : SimdIsas()) {
          auto ys = RunMatMul(s1, std::vector<float>(x.begin(), x.end()), T, isa, nullptr);
          auto yf = RunMatMul(w, x, T, isa, nullptr);
          for (int64_t t = 0; t < T; ++t)
            for (int64_t r = 0; r < s1.rows; ++r)
              ASSERT_EQ(ys[t * s1.rows + r], yf[t * rows + lanes + r])
                  << "slice, " << IsaName(isa) << " " << fmt << " T=" << T << " rows=" << rows << " r=" << r;
        }
      }
    }
  }
}

// The SIMD activation quantizer is bit-exact with kern::ref::QuantizeActsQ8 (the llama.cpp-
// compatible rounding every int8 path relies on), including all-zero, tiny (subnormal fp16
// scale) and huge blocks, and its q + 128 bytes are q ^ 0x80.
TEST(Kernels, QuantizeQ8MatchesRef) {
  std::vector<const kern::KernelTable*> tables;
  if (Cpu().max_isa >= Isa::kAvx2) tables.push_back(kern::Avx2Kernels());
  if (Cpu().max_isa >= Isa::kAvx512) tables.push_back(kern::Avx512Kernels(Cpu().avx512vnni, false));
  std::mt19937 rng(5);
  const int64_t n = 32 * 64;
  std::vector<float> x(static_cast<size_t>(n));
  std::normal_distribution<float> nd(0.f, 1.f);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t b = i / 32;
    float v = nd(rng);
    if (b == 0) v = 0.f;
    if (b == 1) v *= 1e-6f;
    if (b == 2) v *= 1e5f;
    if (b == 3) v = (i % 32 == 5) ? 127.f * 0.5f : 0.25f * static_cast<float>(i % 8);  // exact .5 ties
    x[static_cast<size_t>(i)] = v;
  }
  std::vector<int8_t> q0(static_cast<size_t>(n)), q1(q0.size());
  std::vector<uint8_t> qu(q0.size());
  std::vector<float> d0(static_cast<size_t>(n / 32)), d1(d0.size()), s0(d0.size()), s1(d0.size());
  kern::ref::QuantizeActsQ8(x.data(), n, q0.data(), d0.data(), s0.data());
  for (const kern::KernelTable* k : tables) {
    std::vector<int32_t> is(d0.size(), -1);
    k->quantize_q8(x.data(), n, q1.data(), qu.data(), d1.data(), s1.data(), is.data());
    for (int64_t b = 0; b < n / 32; ++b) {
      int32_t sum = 0;
      for (int j = 0; j < 32; ++j) sum += q0[b * 32 + j];
      ASSERT_EQ(is[b], sum) << k->name << " block " << b;
    }
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_EQ(q0[i], q1[i]) << k->name << " i=" << i;
      ASSERT_EQ(qu[i], static_cast<uint8_t>(q0[i] ^ 0x80)) << k->name << " i=" << i;
    }
    for (int64_t b = 0; b < n / 32; ++b) {
      ASSERT_EQ(std::memcmp(&d0[b], &d1[b], 4), 0) << k->name << " block " << b;
      ASSERT_EQ(std::memcmp(&s0[b], &s1[b], 4), 0) << k->name << " block " << b;
    }
  }
}

// ---- F16 prefill on AVX512-BF16 (gemm_bf16.h) ----
// The kernel rounds F16 weights (exact in fp32) and fp32 activations to bf16 as vcvtne2ps2bf16
// does, multiplies exactly (bf16 x bf16 fits fp32) and accumulates in fp32. Bounds:
//  * vs the twin below (same rounded operands, products and sum in double): only the fp32
//    accumulation of the n products differs, |y - twin| <= n u sum|w' x'| (Higham 4.2, as above).
//  * vs the exact product of the F16 weights and fp32 activations: bf16 keeps 8 significant bits,
//    so each rounding moves an operand by at most u' = 2^-8 of itself (normal range), and
//    |w' x' - w x| <= (2 u' + u'^2) |w x|, plus the accumulation term, with
//    sum|w' x'| <= (1 + 2 u' + u'^2) sum|w x|.

// vcvtne2ps2bf16 on one value: nearest even, subnormal inputs to signed zero (DAZ), NaN quiet.
uint16_t Bf16Hw(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7F800000) == 0 && (u & 0x7FFFFF) != 0) return static_cast<uint16_t>((u >> 16) & 0x8000);
  return F32ToBf16(f);
}

const kern::KernelTable* Bf16Table() {
  if (Cpu().max_isa < Isa::kAvx512 || !Cpu().avx512bf16) return nullptr;
  return kern::Avx512Kernels(Cpu().avx512vnni, true);
}

#define QS_REQUIRE_BF16()                                                                  \
  if (Bf16Table() == nullptr) GTEST_SKIP() << "CPU lacks AVX512-BF16: the bf16 F16 prefill is not built in"

TEST(Bf16Prefill, RoundBf16MatchesInstructionSemantics) {
  QS_REQUIRE_BF16();
  const kern::KernelTable* k = Bf16Table();
  ASSERT_NE(k->round_bf16, nullptr);
  EXPECT_EQ(kern::Avx512Kernels(Cpu().avx512vnni, false)->round_bf16, nullptr);
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.f, 1.f);
  std::vector<float> x(100);
  for (auto& v : x) v = nd(rng);
  auto bits = [](uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; };
  x[0] = bits(0x3F808000);  // tie, even below: rounds down
  x[1] = bits(0x3F818000);  // tie, odd below: rounds up
  x[2] = bits(0x00000001);  // smallest subnormal -> +0
  x[3] = bits(0x807FFFFF);  // largest negative subnormal -> -0
  x[4] = bits(0x7F7FFFFF);  // FLT_MAX rounds to +inf
  x[5] = bits(0x7FC00001);  // quiet NaN
  x[6] = bits(0xFF800000);  // -inf
  x[7] = -0.f;
  x[8] = bits(0x00800000);  // smallest normal, kept
  for (int64_t n : {1, 2, 9, 31, 32, 33, 64, 100}) {
    std::vector<uint16_t> out(static_cast<size_t>(n + 2), 0xAAAA);
    k->round_bf16(x.data(), n, out.data());
    for (int64_t i = 0; i < n; ++i) {
      const uint16_t want = Bf16Hw(x[i]);
      if ((want & 0x7F80) == 0x7F80 && (want & 0x7F)) {  // NaN: any quiet NaN with its sign
        ASSERT_EQ(out[i] & 0xFFC0, want & 0xFFC0) << "n=" << n << " i=" << i;
      } else {
        ASSERT_EQ(out[i], want) << "n=" << n << " i=" << i << " x=" << x[i];
      }
    }
    if (n % 2) EXPECT_EQ(out[n], 0) << "odd n is padded with +0";
    EXPECT_EQ(out[n + n % 2], 0xAAAA) << "nothing written past the padded pair";
  }
}

struct Bf16Ref {
  std::vector<double> twin, exact, abs_rounded, abs_exact;
};

// Twin (bf16-rounded operands, double sums) and exact (F16 weights x fp32 activations) results.
Bf16Ref Bf16Reference(const WeightMatrix& w, const std::vector<float>& x, int64_t T) {
  const int64_t rows = w.rows, cols = w.cols;
  Bf16Ref o;
  for (auto* v : {&o.twin, &o.exact, &o.abs_rounded, &o.abs_exact}) v->assign(static_cast<size_t>(T * rows), 0.0);
  std::vector<float> row(static_cast<size_t>(cols));
  std::vector<double> xr(x.size());
  for (size_t i = 0; i < x.size(); ++i) xr[i] = Bf16ToF32(Bf16Hw(x[i]));
  for (int64_t r = 0; r < rows; ++r) {
    DecodeRow(w, r, row.data());
    for (int64_t t = 0; t < T; ++t) {
      double s = 0, e = 0, a = 0, b = 0;
      for (int64_t c = 0; c < cols; ++c) {
        const double wr = Bf16ToF32(Bf16Hw(row[c])), xv = x[t * cols + c];
        s += wr * xr[t * cols + c];
        a += std::fabs(wr * xr[t * cols + c]);
        e += static_cast<double>(row[c]) * xv;
        b += std::fabs(static_cast<double>(row[c]) * xv);
      }
      const size_t i = static_cast<size_t>(t * rows + r);
      o.twin[i] = s, o.exact[i] = e, o.abs_rounded[i] = a, o.abs_exact[i] = b;
    }
  }
  return o;
}

void ExpectBf16Bounds(const std::vector<float>& y, const Bf16Ref& ref, int64_t cols, const std::string& what) {
  for (size_t i = 0; i < y.size(); ++i) {
    ASSERT_LE(std::fabs(y[i] - ref.twin[i]), cols * kU * ref.abs_rounded[i] + 1e-30) << what << " i=" << i;
    constexpr double kR = 2.0 / 256 + 1.0 / 65536;  // 2 u' + u'^2, u' = 2^-8
    const double b = kR * ref.abs_exact[i] + cols * kU * (1 + kR) * ref.abs_exact[i];
    ASSERT_LE(std::fabs(y[i] - ref.exact[i]), b + 1e-30) << what << " (vs exact) i=" << i;
  }
}

// The kernel table directly: odd shapes (rows not a multiple of 16, odd columns, columns not a
// multiple of 32), token counts around the tile widths, scratch for exactly two groups (several
// repacked blocks) and the full size, and a row range inside the matrix.
TEST(Bf16Prefill, KernelMatchesTwinAndExactBound) {
  QS_REQUIRE_BF16();
  const kern::KernelTable* k = Bf16Table();
  std::mt19937 rng(13);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 201}, {16, 32}, {50, 1}, {33, 77}, {130, 512}, {64, 1000}}) {
    Case c = MakeWeight("f16", rows, cols, rng);
    kern::WDesc d;
    d.fmt = kern::WFmt::kF16;
    d.rows = rows;
    d.cols = cols;
    d.data = c.w.data;
    d.row_stride = c.w.row_stride;
    for (int64_t T : {4, 5, 13, 64}) {
      auto x = RandomX(T, cols, rng);
      const Bf16Ref ref = Bf16Reference(c.w, x, T);
      const int64_t bs = cols + cols % 2;
      std::vector<uint16_t> xb(static_cast<size_t>(T * bs));
      for (int64_t t = 0; t < T; ++t) k->round_bf16(&x[t * cols], cols, &xb[t * bs]);
      kern::XDesc xd;
      xd.x = x.data();
      xd.x_stride = cols;
      xd.T = T;
      xd.xbf = xb.data();
      xd.xbf_stride = bs;
      const int64_t two_groups = 2 * 16 * ((cols + 31) / 32 * 32) * 2 / 4;
      for (int64_t sn : {two_groups, kern::KernelScratchFloats(cols)}) {
        std::vector<float> scratch(static_cast<size_t>(sn));
        std::vector<float> y(static_cast<size_t>(T * rows), -1.f);
        k->matmul_rows(d, xd, y.data(), rows, 0, rows, scratch.data(), sn);
        std::string what = "rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) + " T=" + std::to_string(T) +
                           " scratch=" + std::to_string(sn);
        ExpectBf16Bounds(y, ref, cols, what);
        std::vector<float> y2(y.size(), -1.f);
        const int64_t r0 = rows > 5 ? 3 : 0, r1 = rows > 5 ? rows - 2 : rows;
        k->matmul_rows(d, xd, y2.data(), rows, r0, r1, scratch.data(), sn);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t r = 0; r < rows; ++r) {
            const size_t i = static_cast<size_t>(t * rows + r);
            if (r < r0 || r >= r1) ASSERT_EQ(y2[i], -1.f) << "row " << r << " written outside [r0, r1) " << what;
            else ASSERT_EQ(y2[i], y[i]) << "row range " << what;
          }
      }
    }
  }
}

// Through MatMul: with the bf16 policy on, AVX-512 prefill (T >= 4) takes the bf16 path (twin
// bounds); decode (T < 4), QIUSUO_ISA=avx2 and the policy off keep the exact fp32 path (the fp32
// summation-order bound of FloatFormats).
TEST(Bf16Prefill, MatMulPolicy) {
  QS_REQUIRE_BF16();
  std::mt19937 rng(17);
  ThreadPool pool(2);
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{37, 201}, {300, 1536}}) {
    Case c = MakeWeight("f16", rows, cols, rng);
    for (int64_t T : {1, 3, 4, 13, 64}) {
      auto x = RandomX(T, cols, rng);
      const Bf16Ref ref = Bf16Reference(c.w, x, T);
      auto fp32_ref = RunMatMul(c.w, x, T, Isa::kScalar, nullptr);
      auto bound = AbsDots(c.w, x, T);
      auto expect_fp32 = [&](const std::vector<float>& y, const std::string& what) {
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_LE(std::fabs(y[i] - fp32_ref[i]), 2.0 * cols * kU * bound[i] + 1e-30) << what << " T=" << T << " i=" << i;
      };
      for (ThreadPool* p : {static_cast<ThreadPool*>(nullptr), &pool}) {
        {
          F16PrefillScope on(true);
          const Isa prev = SetIsaCap(Isa::kAvx512);
          EXPECT_NE(std::string(KernelName()).find("bf16"), std::string::npos) << KernelName();
          SetIsaCap(prev);
          auto y = RunMatMul(c.w, x, T, Isa::kAvx512, p);
          if (T >= kern::kDequantMinT) ExpectBf16Bounds(y, ref, cols, "MatMul bf16 T=" + std::to_string(T));
          else expect_fp32(y, "MatMul decode stays fp32");
          expect_fp32(RunMatMul(c.w, x, T, Isa::kAvx2, p), "QIUSUO_ISA=avx2");
        }
        F16PrefillScope off(false);
        const Isa prev = SetIsaCap(Isa::kAvx512);
        EXPECT_EQ(std::string(KernelName()).find("bf16"), std::string::npos) << KernelName();
        SetIsaCap(prev);
        expect_fp32(RunMatMul(c.w, x, T, Isa::kAvx512, p), "QIUSUO_F16_PREFILL=fp32");
      }
    }
  }
}

TEST(Kernels, DotAndAxpy) {
  std::mt19937 rng(3);
  for (int64_t n : {1, 7, 16, 33, 100, 1000}) {
    auto a = RandomX(1, n, rng), b = RandomX(1, n, rng);
    double s = 0, sa = 0;
    for (int64_t i = 0; i < n; ++i) s += static_cast<double>(a[i]) * b[i], sa += std::fabs(a[i] * b[i]);
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (isa > Cpu().max_isa) continue;
      const Isa prev = SetIsaCap(isa);
      EXPECT_LE(std::fabs(Dot(a.data(), b.data(), n) - s), n * kU * sa + 1e-30) << IsaName(isa) << " n=" << n;
      std::vector<float> y = b;
      AxpyKernel(0.75f, a.data(), y.data(), n);
      // Fused or not, each element is within one rounding (plus the product's) of the exact value.
      for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], b[i] + 0.75 * a[i], 2 * kU * (std::fabs(b[i]) + std::fabs(a[i])));
      SetIsaCap(prev);
    }
  }
}

// DecodeRowRange widens float formats with SIMD; widening is exact, so every ISA must give the
// scalar twin's bits, for any column range (FP8 ranges straddling a scale block included).
TEST(Kernels, DecodeRowRangeExact) {
  std::mt19937 rng(5);
  for (const char* kind : {"f16", "bf16", "fp8", "f32"}) {
    Case c = MakeWeight(kind, 130, 300, rng);
    for (auto [c0, n] : {std::pair<int64_t, int64_t>{0, 300}, {3, 290}, {120, 40}, {127, 1}, {250, 50}}) {
      std::vector<float> ref(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      for (int64_t r : {0, 1, 129}) {
        const Isa prev = SetIsaCap(Isa::kScalar);
        DecodeRowRange(c.w, r, c0, n, ref.data());
        for (Isa isa : SimdIsas()) {
          SetIsaCap(isa);
          DecodeRowRange(c.w, r, c0, n, got.data());
          ASSERT_EQ(0, std::memcmp(ref.data(), got.data(), ref.size() * 4)) << kind << " " << IsaName(isa) << " c0=" << c0;
        }
        SetIsaCap(prev);
      }
    }
  }
}

// The e4m3 bit trick (simd.h) against the table for all 254 non-NaN codes, through a 1 x 256
// F8 matrix with unit scales and one-hot activations.
TEST(Kernels, Fp8AllCodes) {
  std::vector<uint8_t> codes(256);
  for (int i = 0; i < 256; ++i) codes[i] = static_cast<uint8_t>((i & 0x7F) == 0x7F ? 0 : i);
  std::vector<float> scales(2, 1.f);
  WeightMatrix w;
  w.dtype = DType::kF8E4M3;
  w.rows = 1;
  w.cols = 256;
  w.data = codes.data();
  w.row_stride = 256;
  w.scale_inv = scales.data();
  w.scale_cols = 2;
  for (Isa isa : SimdIsas()) {
    const Isa prev = SetIsaCap(isa);
    for (int i = 0; i < 256; i += 17) {
      std::vector<float> x(256, 0.f);
      x[i] = 1.f;
      float y;
      MatMul(w, x.data(), 1, &y, nullptr);
      EXPECT_EQ(y, Fp8E4M3Table()[codes[i]]) << "code " << i << " " << IsaName(isa);
    }
    SetIsaCap(prev);
  }
}

// MatMulMany gives exactly MatMul's result for each job (the same kernels on the same rows; each
// output row is computed independently of how rows are split between threads), for mixed formats
// (packed Q4_0, Q8_0 with the int8 prefill tile, F16, Q4_1 widened), jobs sharing activations
// (quantized once) and jobs with their own, at decode and prefill T.
TEST(Kernels, MatMulManyEqualsMatMul) {
  std::mt19937 rng(31);
  ThreadPool pool(2);
  std::vector<Case> cases;
  for (const char* f : {"q4_0", "q8_0", "f16", "q4_1", "q4_0", "q6_k", "q4_k", "q5_k"})
    cases.push_back(MakeWeight(f, 80, 256, rng));
  std::vector<WeightMatrix> ws;
  for (auto& c : cases) ws.push_back(c.w);
  std::vector<WeightMatrix*> wp = {&ws[0], &ws[5], &ws[6], &ws[7]};  // K-quants packed, sharing activations
  auto packed = PackedWeights::Pack(wp, PackLanesForActiveIsa(), false, &pool);
  for (int64_t T : {1, 2, 5, 40}) {
    auto xa = RandomX(T, 256, rng), xb = RandomX(T, 256, rng);
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (isa > Cpu().max_isa) continue;
      const Isa prev = SetIsaCap(isa);
      std::vector<std::vector<float>> want(ws.size()), got(ws.size());
      std::vector<MatMulJob> jobs;
      for (size_t i = 0; i < ws.size(); ++i) {
        const float* x = (i % 2) ? xb.data() : xa.data();
        want[i].assign(static_cast<size_t>(T * 80), -1.f);
        got[i].assign(static_cast<size_t>(T * 80), -2.f);
        MatMul(ws[i], x, T, want[i].data(), &pool);
        jobs.push_back(MatMulJob{&ws[i], x, 256, T, got[i].data(), 80});
      }
      MatMulMany(jobs.data(), static_cast<int64_t>(jobs.size()), &pool);
      for (size_t i = 0; i < ws.size(); ++i)
        for (size_t e = 0; e < want[i].size(); ++e)
          ASSERT_EQ(got[i][e], want[i][e]) << "job " << i << " T=" << T << " " << IsaName(isa) << " e=" << e;
      SetIsaCap(prev);
    }
  }
}

}  // namespace
}  // namespace qs
