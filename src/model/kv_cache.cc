#include "model/kv_cache.h"

#include <algorithm>

namespace qs {

KvCache::KvCache(int64_t n_layers, int64_t k_width, int64_t v_width, int64_t max_tokens, int64_t aux_width)
    : n_layers_(n_layers), k_width_(k_width), v_width_(v_width), max_tokens_(max_tokens), aux_width_(aux_width),
      k_(static_cast<size_t>(n_layers)), v_(static_cast<size_t>(n_layers)), a_(static_cast<size_t>(n_layers)),
      b_(static_cast<size_t>(n_layers)) {}

void KvCache::SetCompact(int64_t ring, int64_t keep, int64_t block_width, std::vector<int64_t> block_ratio) {
  QS_CHECK(capacity_ == 0 && ring >= keep && keep >= 0 && static_cast<int64_t>(block_ratio.size()) == n_layers_);
  ring_ = ring;
  keep_ = keep;
  block_width_ = block_width;
  block_ratio_ = std::move(block_ratio);
}

int64_t KvCache::block_rows(int64_t layer, int64_t n) const {
  if (block_width_ == 0 || block_ratio_.empty() || block_ratio_[static_cast<size_t>(layer)] <= 0) return 0;
  return (n + block_ratio_[static_cast<size_t>(layer)] - 1) / block_ratio_[static_cast<size_t>(layer)];
}

size_t KvCache::bytes_per_token() const {
  if (ring_ == 0) return static_cast<size_t>(n_layers_ * (k_width_ + v_width_ + aux_width_)) * sizeof(float);
  double floats = 0;
  for (int64_t r : block_ratio_)
    if (r > 0) floats += static_cast<double>(block_width_) / static_cast<double>(r);
  return static_cast<size_t>(floats * sizeof(float) + 0.5);
}

Status KvCache::Reserve(int64_t n) {
  if (n > max_tokens_)
    return OutOfRange("context of " + std::to_string(n) + " tokens exceeds the cache limit of " +
                      std::to_string(max_tokens_) + " tokens");
  if (n <= capacity_) return Status::Ok();
  int64_t cap = std::min(max_tokens_, std::max<int64_t>(n, std::max<int64_t>(64, capacity_ * 2)));
  const int64_t rows = ring_ > 0 ? ring_ : cap;
  for (int64_t l = 0; l < n_layers_; ++l) {
    k_[l].resize(static_cast<size_t>(rows * k_width_));
    v_[l].resize(static_cast<size_t>(rows * v_width_));
    a_[l].resize(static_cast<size_t>(rows * aux_width_));
    b_[l].resize(static_cast<size_t>(block_rows(l, cap) * block_width_));
  }
  capacity_ = cap;
  return Status::Ok();
}

Status KvCache::CopyPrefixFrom(const KvCache& src, int64_t n) {
  if (src.n_layers_ != n_layers_ || src.k_width_ != k_width_ || src.v_width_ != v_width_ ||
      src.aux_width_ != aux_width_ || src.ring_ != ring_ || src.block_width_ != block_width_ ||
      src.block_ratio_ != block_ratio_)
    return InvalidArgument("KV cache copy between caches of different shapes");
  if (n > src.n_) return OutOfRange("KV cache copy of " + std::to_string(n) + " tokens from a cache of " +
                                    std::to_string(src.n_));
  if (ring_ > 0 && src.n_ - n + keep_ > ring_)
    return OutOfRange("KV cache copy of " + std::to_string(n) + " tokens from a ring cache of " + std::to_string(src.n_) +
                      ": the rows they need were overwritten");
  QS_RETURN_IF_ERROR(Reserve(n));
  const int64_t rows = ring_ > 0 ? ring_ : n;
  for (int64_t l = 0; l < n_layers_; ++l) {
    std::copy_n(src.k_[l].begin(), rows * k_width_, k_[l].begin());
    std::copy_n(src.v_[l].begin(), rows * v_width_, v_[l].begin());
    std::copy_n(src.a_[l].begin(), rows * aux_width_, a_[l].begin());
    std::copy_n(src.b_[l].begin(), block_rows(l, n) * block_width_, b_[l].begin());
  }
  n_ = n;
  return Status::Ok();
}

Status KvCache::TileTo(int64_t n) {
  if (n_ == 0) return InvalidArgument("KvCache::TileTo: the cache is empty");
  QS_RETURN_IF_ERROR(Reserve(n));
  // A ring keeps at most `ring` rows: tiling past that only refills slots.
  const int64_t end = ring_ > 0 ? std::min(n, n_ + ring_) : n;
  auto tile = [&](std::vector<float>& rows, int64_t w) {
    for (int64_t p = n_; p < end; ++p) std::copy_n(rows.begin() + slot(p % n_) * w, w, rows.begin() + slot(p) * w);
  };
  for (int64_t l = 0; l < n_layers_; ++l) {
    tile(k_[l], k_width_);
    tile(v_[l], v_width_);
    tile(a_[l], aux_width_);
    const int64_t r = block_ratio_.empty() ? 0 : block_ratio_[static_cast<size_t>(l)];
    const int64_t have = r > 0 && block_width_ > 0 ? n_ / r : 0;  // complete blocks
    for (int64_t b = have; have > 0 && b < block_rows(l, n); ++b)
      std::copy_n(b_[l].begin() + (b % have) * block_width_, block_width_, b_[l].begin() + b * block_width_);
  }
  n_ = std::max(n_, n);
  return Status::Ok();
}

}  // namespace qs
