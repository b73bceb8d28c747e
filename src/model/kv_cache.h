// Per-sequence attention cache. Each layer stores one "key row" and one "value row" per token;
// their widths depend on the attention kind:
//   MLA (DeepSeek): key row = [kv_a_layernorm(c_kv) (kv_lora_rank) | roped k_pe (qk_rope_head_dim)],
//                   no value row — the latent is both (DeepSeek-V2 §2.1.2), so a token costs
//                   (kv_lora_rank + qk_rope_head_dim) floats per layer, not 2·heads·head_dim.
//   GQA (dense):    key row = n_kv_heads·head_dim, value row = n_kv_heads·head_dim.
// and optionally an "aux row" a block keeps beside them, e.g. DeepSeek-V3.2's indexer key
// [scale | fp8-rounded key] (model/blocks/indexer.h). Widths come from the attention block's
// CacheLayout (model/block.h).
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"

namespace qs {

class KvCache {
 public:
  KvCache(int64_t n_layers, int64_t k_width, int64_t v_width, int64_t max_tokens, int64_t aux_width = 0);

  int64_t size() const { return n_; }               // tokens cached
  int64_t max_tokens() const { return max_tokens_; }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }
  int64_t aux_width() const { return aux_width_; }
  // Bytes the cache grows by per token (a ring cache: its block rows only, the ring is fixed).
  size_t bytes_per_token() const;

  // Compact form (DeepSeek-V4's sliding window and compressed blocks): the key / value / aux rows
  // of only the last `ring` positions are kept (slot pos % ring), and per layer one "block row" of
  // block_width floats for every block_ratio[layer] positions (row b for positions
  // [b·ratio, (b+1)·ratio); ratio 0: none). `keep`: how many trailing positions the blocks read;
  // a copy or truncation that would need an overwritten row fails (CopyPrefixFrom) or is only for
  // benchmarks (Truncate). Call before the first Reserve.
  void SetCompact(int64_t ring, int64_t keep, int64_t block_width, std::vector<int64_t> block_ratio);
  int64_t ring() const { return ring_; }
  int64_t block_width() const { return block_width_; }
  float* block(int64_t layer, int64_t b) { return &b_[static_cast<size_t>(layer)][static_cast<size_t>(b * block_width_)]; }

  // Grows storage to hold n tokens (amortised doubling). Error past max_tokens.
  Status Reserve(int64_t n);
  float* k(int64_t layer, int64_t pos) { return &k_[static_cast<size_t>(layer)][static_cast<size_t>(slot(pos) * k_width_)]; }
  float* v(int64_t layer, int64_t pos) { return &v_[static_cast<size_t>(layer)][static_cast<size_t>(slot(pos) * v_width_)]; }
  float* aux(int64_t layer, int64_t pos) { return &a_[static_cast<size_t>(layer)][static_cast<size_t>(slot(pos) * aux_width_)]; }
  void set_size(int64_t n) { n_ = n; }
  // Forget tokens from position n on (e.g. to re-run a suffix). A ring cache keeps the rows of the
  // last `ring` positions only: cutting more than ring - keep tokens leaves later rows in the
  // window (acceptable for benchmarks, which is the only caller).
  void Truncate(int64_t n) { if (n < n_) n_ = n; }
  void Clear() { n_ = 0; }
  int64_t n_layers() const { return n_layers_; }
  // Replaces the contents with the first n tokens of `src` (same widths and layer count), e.g. to
  // start a sequence from a cached shared prompt prefix (runtime/prefix_cache.h).
  Status CopyPrefixFrom(const KvCache& src, int64_t n);
  // Grows the cache to n tokens by repeating its current rows (benchmarks only: the same cache
  // size and attention reads as n real tokens, without prefilling them).
  Status TileTo(int64_t n);

 private:
  int64_t slot(int64_t pos) const { return ring_ > 0 ? pos % ring_ : pos; }
  int64_t block_rows(int64_t layer, int64_t n) const;

  int64_t n_layers_, k_width_, v_width_, max_tokens_, aux_width_;
  int64_t n_ = 0, capacity_ = 0;
  int64_t ring_ = 0, keep_ = 0, block_width_ = 0;
  std::vector<int64_t> block_ratio_;
  std::vector<std::vector<float>> k_, v_, a_, b_;
};

// A run of consecutive tokens of one sequence inside a batched forward: activations rows
// [t0, t0 + n) belong to positions pos0 .. pos0 + n - 1 of `cache`.
struct AttnSegment {
  int64_t t0 = 0, n = 0, pos0 = 0;
  KvCache* cache = nullptr;
};

// Per-row view of a batch: row t belongs to (*caches)[t] at position (*positions)[t].
inline void ExpandSegments(const std::vector<AttnSegment>& segs, int64_t T, std::vector<KvCache*>* caches,
                           std::vector<int64_t>* positions) {
  caches->resize(static_cast<size_t>(T));
  positions->resize(static_cast<size_t>(T));
  for (const AttnSegment& sg : segs)
    for (int64_t i = 0; i < sg.n; ++i) {
      (*caches)[static_cast<size_t>(sg.t0 + i)] = sg.cache;
      (*positions)[static_cast<size_t>(sg.t0 + i)] = sg.pos0 + i;
    }
}

}  // namespace qs
