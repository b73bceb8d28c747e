#include "runtime/prefix_cache.h"

#include <algorithm>

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

void PrefixCache::Insert(const std::vector<int32_t>& tokens, const KvCache& src, uint64_t ns, const KvCache* aux) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0 || n > src.size()) return;
  const int64_t na = aux ? std::min(n, aux->size()) : 0;
  const size_t need = static_cast<size_t>(n) * src.bytes_per_token() + (aux ? static_cast<size_t>(na) * aux->bytes_per_token() : 0);
  if (need > budget_) return;
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
  e.kv = std::make_unique<KvCache>(src.n_layers(), src.k_width(), src.v_width(), n, src.aux_width());
  if (!e.kv->CopyPrefixFrom(src, n).ok()) return;
  if (na > 0) {
    e.aux = std::make_unique<KvCache>(aux->n_layers(), aux->k_width(), aux->v_width(), na, aux->aux_width());
    if (!e.aux->CopyPrefixFrom(*aux, na).ok()) e.aux.reset();
  }
  e.bytes = need;
  bytes_ += need;
  entries_.push_front(std::move(e));
}

}  // namespace qs
