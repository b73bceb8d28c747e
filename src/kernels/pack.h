// Weight repacking at load time into the interleaved layout the SIMD kernels stream (issue 6:
// "weight repacking at load time into an interleaved layout ... in memory, never a new file").
//
// Q4_0 and Q8_0 rows are repacked in groups of L rows (L = 16 on AVX-512, 8 on AVX2: one int32 lane per
// row), so a broadcast of 4 activation bytes times one vector of 4 weight bytes from each of the L
// rows gives L partial dot products in one vpdpbusd: no horizontal sums, and a block's scales are
// applied with one vector fma for L rows (llama.cpp's block_q4_0x8 repack has the same idea).
// Per group, for nb = cols / 32 blocks:
//   uint16 d[nb][L]         the rows' fp16 block scales
//   uint8  q[nb][C][L][4]   chunk j, lane k: bytes 4j..4j+3 of row k's quants:
//                           Q4_0 (C = 4): qs[16], low nibbles elements 4j..4j+3, high nibbles
//                           16+4j..16+4j+3 (ggml order); Q8_0 (C = 8): q + 128 (unsigned)
// i.e. the bytes of the source (18 / 34 per 32 weights) in another order. A tail group is
// padded with zero scales and quants (never stored). The quants are kept apart from the scales
// so every quant vector is 64-byte aligned.
//
// Q4_K / Q5_K / Q6_K (issue 16) in groups of L rows likewise, per 256-column super-block:
//   header (20 L bytes): uint16 d[L] (fp16), uint16 dmin[L] (Q6_K: zero), then
//                        Q4_K/Q5_K: uint8 sc[8][L], uint8 m[8][L] (the 6-bit get_scale_min_k4 values)
//                        Q6_K:      int8 sc[16][L] (per 16 elements)
//   8 sub-blocks of 32 columns, each: uint8 q[4][L][4] load j, lane k, byte e: low nibble element
//                        4j+e, high nibble 16+4j+e of the unsigned quant (as Q4_0 above); then
//                        Q5_K: uint8 h[L][4], bit j / 4+j: the 5th bit of element 4j+e / 16+4j+e;
//                        Q6_K: uint8 h0[L][4], h1[L][4], bits 2j..2j+1: the top two bits of
//                        element 4j+e (h0) / 16+4j+e (h1).
// 148 / 180 / 212 bytes per row and 256 weights against the file's 144 / 176 / 210: decode reads
// about as many bytes as from the file, in one sequential stream per group.
//
// One copy stays resident: the repacked matrices live in one anonymous mapping (transparent huge
// pages where the kernel allows), and the file pages they came from are released from this
// process (madvise DONTNEED on the read-only file mapping; they are re-read from the page cache if
// anything, e.g. the scalar path, ever touches them again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/matmul.h"

namespace qs {

class ThreadPool;

// Bytes of one packed group of `lanes` rows (0 if the matrix has no packed layout).
size_t PackedGroupBytes(const WeightMatrix& w, int lanes);
// Whether w can be repacked for `lanes`: Q4_0; Q4_K/Q5_K/Q6_K (whole super-blocks); Q8_0 on AVX-512 VNNI (16 lanes); F16 and BF16
// (as [cols][L] values: column c of the group's L rows is one vector, so an fp32 fma with the
// broadcast activation x[c] updates L row sums; not F16 while the opt-in bf16 prefill is on).
bool CanPack(const WeightMatrix& w, int lanes);
// Writes the packed layout of w (see above) to dst (ceil(rows / lanes) * PackedGroupBytes bytes).
// Groups [g0, g1) only.
void PackGroups(const WeightMatrix& w, int lanes, int64_t g0, int64_t g1, uint8_t* dst);

// The group size the active kernels run packed matrices with (16 AVX-512, 8 AVX2, 0 scalar).
// A matrix packed for another size (the ISA cap changed) runs the unpacked kernels on `data`.
int KernelLanes();
// The lanes the active kernels want (16 on AVX-512, 8 on AVX2, 0 on the scalar path or when
// repacking is off).
int PackLanesForActiveIsa();
// Turns load-time repacking on (the default) or off for this process (the CLI's --no-repack /
// QIUSUO_REPACK=0: keep the file layout, instant load, slower kernels); returns the previous
// setting. Takes effect for models prepared afterwards.
bool SetRepackEnabled(bool on);

// Owns the resident repacked weights.
class PackedWeights {
 public:
  ~PackedWeights();
  PackedWeights(const PackedWeights&) = delete;
  PackedWeights& operator=(const PackedWeights&) = delete;

  // Repacks every matrix in `ws` that CanPack for `lanes` into one buffer and points its
  // `packed` at it. With drop_source, the source bytes (which must be a read-only file mapping)
  // are released from this process's memory afterwards. Shows progress on large models.
  static std::unique_ptr<PackedWeights> Pack(const std::vector<WeightMatrix*>& ws, int lanes, bool drop_source,
                                             ThreadPool* pool);
  size_t bytes() const { return size_; }
  int64_t matrices() const { return n_; }

 private:
  PackedWeights() = default;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  int64_t n_ = 0;
};

}  // namespace qs
