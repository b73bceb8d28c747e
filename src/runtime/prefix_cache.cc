#include "runtime/prefix_cache.h"

#include <algorithm>

#include "runtime/disk_cache.h"

namespace qs {

namespace {
int64_t CommonPrefix(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int64_t>(i);
}
}  // namespace

int64_t PrefixCache::Lookup(const std::vector<int32_t>& tokens, int64_t max_len, KvCache* dst, uint64_t ns,
                            KvCache* aux_dst, int64_t* aux_rows) {
  if (aux_rows) *aux_rows = 0;
  auto best = entries_.end();
  int64_t best_len = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->ns != ns) continue;
    int64_t l = std::min(CommonPrefix(tokens, it->tokens), max_len);
    if (l > best_len) best_len = l, best = it;
  }
  // The disk's match when it is longer (read and verified into dst; 0 if it failed verification).
  if (disk_) {
    int64_t d = disk_->Lookup(tokens, max_len, best_len, dst, ns);
    if (d > best_len) return d;
  }
  if (best == entries_.end()) return 0;
  if (!dst->CopyPrefixFrom(*best->kv, best_len).ok()) return 0;
  if (aux_dst && best->aux) {
    const int64_t n = std::min(best_len, best->aux->size());
    if (aux_dst->CopyPrefixFrom(*best->aux, n).ok() && aux_rows) *aux_rows = n;
  }
  entries_.splice(entries_.begin(), entries_, best);  // most recently used
  return best_len;
}

void PrefixCache::EvictToFit(size_t incoming) {
  while (!entries_.empty() && bytes_ + incoming > budget_) {
    bytes_ -= entries_.back().bytes;
    entries_.pop_back();
  }
}

void PrefixCache::Insert(const std::vector<int32_t>& tokens, const KvCache& src, uint64_t ns, const KvCache* aux,
                         bool persist) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0 || n > src.size()) return;
  const int64_t na = aux ? std::min(n, aux->size()) : 0;
  const size_t need = static_cast<size_t>(n) * src.bytes_per_token() +
                      (aux ? static_cast<size_t>(na) * aux->bytes_per_token() : 0);
  auto copy = [&] {
    auto kv = std::make_shared<KvCache>(src.n_layers(), src.k_width(), src.v_width(), n, src.aux_width());
    return kv->CopyPrefixFrom(src, n).ok() ? kv : nullptr;
  };
  if (need > budget_) {  // too big for memory; the disk may still take it
    if (disk_ && persist) disk_->Store(tokens, copy(), ns);
    return;
  }
  // Drop entries that are a prefix of the new one (it covers them); skip if one covers it.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->ns != ns) {  // another namespace's entry neither covers nor is covered by this one
      ++it;
      continue;
    }
    int64_t l = CommonPrefix(tokens, it->tokens);
    if (l == static_cast<int64_t>(it->tokens.size())) {
      bytes_ -= it->bytes;
      it = entries_.erase(it);
    } else if (l == n) {
      entries_.splice(entries_.begin(), entries_, it);
      return;
    } else {
      ++it;
    }
  }
  EvictToFit(need);
  Entry e;
  e.tokens = tokens;
  e.ns = ns;
  e.kv = copy();
  if (!e.kv) return;
  if (disk_ && persist) disk_->Store(tokens, e.kv, ns);
  if (na > 0) {
    e.aux = std::make_unique<KvCache>(aux->n_layers(), aux->k_width(), aux->v_width(), na, aux->aux_width());
    if (!e.aux->CopyPrefixFrom(*aux, na).ok()) e.aux.reset();
  }
  e.bytes = need;
  bytes_ += need;
  entries_.push_front(std::move(e));
}

}  // namespace qs
