// DeepSeek-V4's KV compressor and lightning indexer (model.py `Compressor`, `Indexer`;
// fixtures/deepseek-v4-golden/README.md items 7, 8, 10, 14).
//
// The compressor pools `ratio` consecutive tokens into one compressed entry by a learned
// per-feature softmax gate; ratio 4 overlaps (block b also pools the first half of block b-1's
// features). Instead of model.py's incomplete-block state, each token's raw projections
// (wkv(x) and wgate(x) + ape) stay in its cache aux row (a ring of the last positions: a block
// reads at most 2 ratio of them), and block b is pooled from those rows when its last token arrives
// and written into the cache's block row b. Prefill, token-by-token decode and any chunking
// therefore pool exactly the same numbers, and CopyPrefixFrom keeps a consistent state (a block
// whose last token is cut off is pooled again when that token is re-run).
#pragma once

#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/block.h"
#include "model/blocks/v4_common.h"

namespace qs {

class V4Compressor {
 public:
  // `prefix`: "...attn.compressor." or "...attn.indexer.compressor."; d: the entry width;
  // indexer: Hadamard + FP4 simulation of the entry, else FP8 simulation of its non-rope dims.
  V4Compressor(const ModelConfig& c, std::string prefix, int64_t ratio, int64_t d, bool indexer);
  void VisitTensors(TensorVisitor& v);
  Status Finish();
  // Floats per token this compressor keeps at its aux offset: the raw kv and score (2 coff d).
  int64_t aux_width() const { return 2 * coff_ * d_; }
  // Positions back a block reads (the ring must keep them).
  int64_t reach() const { return coff_ * ratio_; }
  // Projects every row and stores its raw kv / score at aux offset `off`; then pools every block
  // whose last token is among the rows into block row b at offset `boff` (d floats).
  void Forward(const float* x, const BatchRows& rows, int64_t layer, int64_t off, int64_t boff, const V4Rope& rope,
               bool qsim, ThreadPool* pool);
  int64_t ratio() const { return ratio_; }

 private:
  void Pool(KvCache* cache, int64_t layer, int64_t off, int64_t boff, int64_t b, const V4Rope& rope, bool qsim);

  std::string p_;
  int64_t hidden_, ratio_, d_, coff_, rd_;
  double eps_;
  bool indexer_;
  WeightMatrix wkv_, wgate_, ape_m_;
  std::vector<float> ape_, norm_;
  std::vector<float> proj_;  // [T, 2 coff d]
};

// The lightning indexer of a CSA layer: scores every visible compressed block for each query
// with FP4-simulated, Hadamard-rotated queries and keys and keeps the index_topk best.
class V4Indexer {
 public:
  V4Indexer(const ModelConfig& c, std::string prefix);
  void VisitTensors(TensorVisitor& v);
  Status Finish() { return comp_.Finish(); }
  int64_t aux_width() const { return comp_.aux_width(); }
  int64_t reach() const { return comp_.reach(); }
  // x: [T, hidden] (the attention input), qr: [T, q_lora] (q_norm(wq_a(x))). Runs the indexer's
  // compressor (raw rows at aux offset `off`, keys at block offset `boff`), then writes per row
  // up to index_topk picked blocks (ascending) into sel[t]. trace: appends [T, topk] picks (-1
  // padded) and optionally the scores.
  void Forward(const float* x, const float* qr, const BatchRows& rows, int64_t layer, int64_t off, int64_t boff,
               const V4Rope& rope, bool qsim, ThreadPool* pool, std::vector<std::vector<int32_t>>* sel,
               const LayerTrace* trace);

 private:
  std::string p_;
  int64_t hidden_, q_lora_, nh_, d_, topk_, rd_;
  WeightMatrix wq_b_, weights_proj_;
  V4Compressor comp_;
  std::vector<float> q_, w_;
};

}  // namespace qs
