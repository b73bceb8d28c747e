#include "model/kv_cache.h"

#include <algorithm>

namespace qs {

KvCache::KvCache(int64_t n_layers, int64_t k_width, int64_t v_width, int64_t max_tokens, int64_t aux_width)
    : n_layers_(n_layers), k_width_(k_width), v_width_(v_width), max_tokens_(max_tokens), aux_width_(aux_width),
      k_(static_cast<size_t>(n_layers)), v_(static_cast<size_t>(n_layers)), a_(static_cast<size_t>(n_layers)) {}

Status KvCache::Reserve(int64_t n) {
  if (n > max_tokens_)
    return OutOfRange("context of " + std::to_string(n) + " tokens exceeds the cache limit of " +
                      std::to_string(max_tokens_) + " tokens");
  if (n <= capacity_) return Status::Ok();
  int64_t cap = std::min(max_tokens_, std::max<int64_t>(n, std::max<int64_t>(64, capacity_ * 2)));
  for (int64_t l = 0; l < n_layers_; ++l) {
    k_[l].resize(static_cast<size_t>(cap * k_width_));
    v_[l].resize(static_cast<size_t>(cap * v_width_));
    a_[l].resize(static_cast<size_t>(cap * aux_width_));
  }
  capacity_ = cap;
  return Status::Ok();
}

Status KvCache::CopyPrefixFrom(const KvCache& src, int64_t n) {
  if (src.n_layers_ != n_layers_ || src.k_width_ != k_width_ || src.v_width_ != v_width_ ||
      src.aux_width_ != aux_width_)
    return InvalidArgument("KV cache copy between caches of different shapes");
  if (n > src.n_) return OutOfRange("KV cache copy of " + std::to_string(n) + " tokens from a cache of " +
                                    std::to_string(src.n_));
  QS_RETURN_IF_ERROR(Reserve(n));
  for (int64_t l = 0; l < n_layers_; ++l) {
    std::copy_n(src.k_[l].begin(), n * k_width_, k_[l].begin());
    std::copy_n(src.v_[l].begin(), n * v_width_, v_[l].begin());
    std::copy_n(src.a_[l].begin(), n * aux_width_, a_[l].begin());
  }
  n_ = n;
  return Status::Ok();
}

Status KvCache::TileTo(int64_t n) {
  if (n_ == 0) return InvalidArgument("KvCache::TileTo: the cache is empty");
  QS_RETURN_IF_ERROR(Reserve(n));
  auto tile = [&](std::vector<float>& rows, int64_t w) {
    for (int64_t p = n_; p < n; ++p) std::copy_n(rows.begin() + (p % n_) * w, w, rows.begin() + p * w);
  };
  for (int64_t l = 0; l < n_layers_; ++l) {
    tile(k_[l], k_width_);
    tile(v_[l], v_width_);
    tile(a_[l], aux_width_);
  }
  n_ = std::max(n_, n);
  return Status::Ok();
}

}  // namespace qs
