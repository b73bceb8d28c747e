#include "tokenizer/bpe.h"

#include <algorithm>
#include <queue>

#include "tokenizer/byte_level.h"

namespace qs::tok {
namespace {

constexpr uint64_t kEmptyKey = ~0ull;
constexpr uint32_t kNoRank = ~0u;
constexpr size_t kSmallWord = 32;  // pieces up to this many symbols use the quadratic scan

uint64_t PairKey(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

uint64_t Mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return k;
}

}  // namespace

bool BpeModel::FindMerge(int32_t a, int32_t b, MergeHit* hit) const {
  const uint64_t key = PairKey(a, b);
  for (uint64_t i = Mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    if (merge_keys_[i] == key) {
      *hit = merge_vals_[i];
      return true;
    }
    if (merge_keys_[i] == kEmptyKey) return false;
  }
}

void BpeModel::InsertMerge(int32_t a, int32_t b, MergeHit hit) {
  const uint64_t key = PairKey(a, b);
  for (uint64_t i = Mix(key) & merge_mask_;; i = (i + 1) & merge_mask_) {
    if (merge_keys_[i] == kEmptyKey) {
      merge_keys_[i] = key;
      merge_vals_[i] = hit;
      return;
    }
    if (merge_keys_[i] == key) {  // a repeated merge: the later one wins, as in HF's HashMap
      merge_vals_[i] = hit;
      return;
    }
  }
}

Result<std::unique_ptr<BpeModel>> BpeModel::Build(const StrIndex& vocab,
                                                  const std::vector<std::pair<std::string, std::string>>& merges,
                                                  bool ignore_merges, bool strict, const std::string& where,
                                                  size_t* skipped) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    AppendUtf8(ByteToCodepoint(static_cast<uint8_t>(b)), &ch);
    m->byte_id_[b] = vocab.Find(ch);
  }
  size_t cap = 16;
  while (cap < merges.size() * 2) cap <<= 1;
  m->merge_keys_.assign(cap, kEmptyKey);
  m->merge_vals_.resize(cap);
  m->merge_mask_ = cap - 1;
  std::string joined;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [l, rr] = merges[r];
    joined.assign(l).append(rr);
    const int32_t a = vocab.Find(l), b = vocab.Find(rr), ab = vocab.Find(joined);
    if (a < 0 || b < 0 || ab < 0) {
      if (!strict) {
        if (skipped) ++*skipped;
        continue;
      }
      const std::string& missing = a < 0 ? l : b < 0 ? rr : joined;
      return InvalidArgument(where + ": merge #" + std::to_string(r) + " \"" + l + " " + rr + "\": token \"" +
                             missing + "\" is not in the vocabulary");
    }
    m->InsertMerge(a, b, {static_cast<uint32_t>(r), ab});
    ++m->num_merges_;
  }
  m->ignore_merges_ = ignore_merges;
  if (ignore_merges) {
    m->raw_tokens_.resize(vocab.keys().size());
    vocab.ForEach([&](int32_t id) { ByteLevelDecode(vocab.keys()[id], &m->raw_tokens_[id]); });
    m->whole_words_.Reset(&m->raw_tokens_);
    m->whole_words_.Reserve(vocab.size());
    vocab.ForEach([&](int32_t id) {
      if (!m->raw_tokens_[id].empty()) m->whole_words_.Insert(id, false);
    });
  }
  return m;
}

void BpeModel::MergeWord(std::string_view piece, bool use_heap, std::vector<int32_t>* out) const {
  // Initial symbols: one per byte that the vocabulary knows.
  std::vector<int32_t> ids;
  ids.reserve(piece.size());
  for (unsigned char c : piece)
    if (byte_id_[c] >= 0) ids.push_back(byte_id_[c]);
  const size_t n = ids.size();
  if (n <= 1) {
    out->insert(out->end(), ids.begin(), ids.end());
    return;
  }
  MergeHit hit;
  if (!use_heap) {
    // Quadratic scan: ranks[i] is the rank of the pair (ids[i], ids[i+1]).
    std::vector<uint32_t> ranks(n - 1);
    std::vector<int32_t> news(n - 1);
    for (size_t i = 0; i + 1 < n; ++i) {
      bool f = FindMerge(ids[i], ids[i + 1], &hit);
      ranks[i] = f ? hit.rank : kNoRank;
      news[i] = f ? hit.new_id : -1;
    }
    while (true) {
      size_t best = 0;
      uint32_t best_rank = kNoRank;
      for (size_t i = 0; i < ranks.size(); ++i)
        if (ranks[i] < best_rank) best_rank = ranks[i], best = i;  // strict: leftmost on ties
      if (best_rank == kNoRank) break;
      ids[best] = news[best];
      ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best) + 1);
      ranks.erase(ranks.begin() + static_cast<std::ptrdiff_t>(best));
      news.erase(news.begin() + static_cast<std::ptrdiff_t>(best));
      // Refresh the two pairs that touch the merged symbol.
      for (size_t i : {best - 1, best}) {
        if (i >= ranks.size()) continue;  // best - 1 wraps when best == 0
        bool f = FindMerge(ids[i], ids[i + 1], &hit);
        ranks[i] = f ? hit.rank : kNoRank;
        news[i] = f ? hit.new_id : -1;
      }
    }
    out->insert(out->end(), ids.begin(), ids.end());
    return;
  }
  // Heap over (rank, position), as HF's Word::merge_all: stale entries are detected by checking
  // that the pair at that position still merges into the recorded token.
  struct Entry {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
    bool operator>(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<int32_t> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  for (size_t i = 0; i + 1 < n; ++i)
    if (FindMerge(ids[i], ids[i + 1], &hit)) heap.push({hit.rank, static_cast<uint32_t>(i), hit.new_id});
  while (!heap.empty()) {
    Entry e = heap.top();
    heap.pop();
    if (!alive[e.pos] || next[e.pos] < 0) continue;
    const int32_t r = next[e.pos];
    if (!FindMerge(ids[e.pos], ids[r], &hit) || hit.new_id != e.new_id) continue;
    ids[e.pos] = e.new_id;
    alive[r] = 0;
    next[e.pos] = next[r];
    if (next[r] >= 0) prev[next[r]] = static_cast<int32_t>(e.pos);
    if (prev[e.pos] >= 0 && FindMerge(ids[prev[e.pos]], ids[e.pos], &hit))
      heap.push({hit.rank, static_cast<uint32_t>(prev[e.pos]), hit.new_id});
    if (next[e.pos] >= 0 && FindMerge(ids[e.pos], ids[next[e.pos]], &hit))
      heap.push({hit.rank, e.pos, hit.new_id});
  }
  for (int32_t i = 0; i >= 0; i = next[i]) out->push_back(ids[i]);
}

void BpeModel::EncodeWord(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.size() == 1) {
    int32_t id = byte_id_[static_cast<unsigned char>(piece[0])];
    if (id >= 0) out->push_back(id);
    return;
  }
  if (ignore_merges_) {
    const int32_t id = whole_words_.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      return;
    }
  }
  const bool cacheable = piece.size() <= kCacheMaxWord;
  CacheShard* shard = nullptr;
  if (cacheable) {
    const size_t h = StrHash()(piece);
    shard = &cache_[(h >> 7) % kCacheShards];
    std::lock_guard<std::mutex> lock(shard->mu);
    auto it = shard->map.find(piece);
    if (it != shard->map.end()) {
      out->insert(out->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t start = out->size();
  MergeWord(piece, piece.size() > kSmallWord, out);
  if (cacheable) {
    std::vector<int32_t> ids(out->begin() + static_cast<std::ptrdiff_t>(start), out->end());
    std::lock_guard<std::mutex> lock(shard->mu);
    if (shard->map.size() >= kCacheShardCap) shard->map.clear();
    shard->map.emplace(std::string(piece), std::move(ids));
  }
}

}  // namespace qs::tok
