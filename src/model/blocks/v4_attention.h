// DeepSeek-V4 attention (model.py `Attention`; fixtures/deepseek-v4-golden/README.md items 2-9):
// low-rank queries with a per-head RMS norm, one shared KV head (key = value) with RoPE on its last
// qk_rope_head_dim dims, a sliding window of `sliding_window` tokens plus, per the layer's
// compress ratio, compressed entries (HCA: every visible block; CSA: the indexer's picks), an
// attention sink per head, the output's RoPE undone, and a grouped low-rank output projection.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "model/block.h"
#include "model/blocks/v4_compressor.h"

namespace qs {

class V4Attention final : public AttentionBlock {
 public:
  V4Attention(const ModelConfig& c, std::string prefix, int64_t ratio);
  void VisitTensors(TensorVisitor& v) override;
  Status Finish(WeightSource& src) override;
  // Key row: the token's kv (head_dim). Aux row: the compressor's, then the indexer's raw
  // projections. Block rows (KvCache::block, one per `ratio` tokens): [entry (head_dim) | indexer
  // key (index_head_dim)] (block_width()).
  CacheLayout cache_layout() const override;
  int64_t block_width() const { return (comp_ ? D_ : 0) + (indexer_ ? idx_d_ : 0); }
  // Positions back the layer reads: the window, or a compressor's blocks if longer.
  int64_t reach() const;
  void Forward(const float* x, const BatchRows& rows, int64_t layer, float* out, Workspace& ws, ThreadPool* pool,
               const LayerTrace* trace) override;
  void set_qsim(bool on) { qsim_ = on; }
  int64_t ratio() const { return ratio_; }

 private:
  std::string p_;
  int64_t hidden_, H_, D_, rd_, q_lora_, G_, R_, window_, ratio_, idx_d_;
  double eps_;
  bool qsim_ = true;
  WeightMatrix wq_a_, wq_b_, wkv_, wo_a_, wo_b_;
  std::vector<WeightMatrix> wo_a_groups_;  // wo_a rows of each output group
  std::vector<std::vector<float>> wo_a_owned_;  // fp32 copies where an FP8 group cuts a scale block
  std::vector<float> q_norm_, kv_norm_, sink_;
  std::unique_ptr<V4Compressor> comp_;
  std::unique_ptr<V4Indexer> indexer_;
  V4Rope rope_;
  std::vector<float> qr_, q_, kv_, o_, og_;
  std::vector<std::vector<int32_t>> sel_;
};

}  // namespace qs
