// Prompt prefix cache: KV rows of finished sequences, keyed by their tokens, so a request whose
// prompt starts with the same tokens (a shared system prompt, the earlier turns of a chat) skips
// recomputing them. Rows at positions < L depend only on tokens[0..L) (causal attention), so any
// common prefix of a stored sequence is reusable. This is what `prompt_cache_hit_tokens` counts
// (DeepSeek's "context caching on disk", https://api-docs.deepseek.com/guides/kv_cache).
//
// Every entry belongs to a namespace (the server's hash of API key and `user`): a lookup sees only
// entries of its own namespace. Shared entries would let one client learn from
// prompt_cache_hit_tokens whether another client's prompt began with a guessed text.
//
// Bounded by a byte budget; least recently used entries are evicted first. A new entry that
// extends an existing one replaces it. Not thread-safe: owned by the scheduler thread.
//
// With a DiskCache (set_disk, `serve --cache-dir`) every entry is also written to disk
// (write-through, in the background) and a lookup takes the disk's match when it is longer than
// the memory's: entries outlive the memory budget and a restart (runtime/disk_cache.h).
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "model/kv_cache.h"

namespace qs {

class DiskCache;

class PrefixCache {
 public:
  explicit PrefixCache(size_t budget_bytes) : budget_(budget_bytes) {}

  // Longest common prefix (at most `max_len` tokens) between `tokens` and a stored sequence; copies
  // those rows into `dst` (replacing its contents) and returns their number (0: nothing reused).
  // Only entries stored under the same namespace `ns` are considered.
  // `aux_dst` (optional): also restores the entry's auxiliary rows (a speculative drafter's own
  // cache, e.g. the MTP module's), at most as many as returned; *aux_rows says how many (0 when the
  // entry has none, and for a match from the disk tier, which keeps the main rows only).
  int64_t Lookup(const std::vector<int32_t>& tokens, int64_t max_len, KvCache* dst, uint64_t ns = 0,
                 KvCache* aux_dst = nullptr, int64_t* aux_rows = nullptr);
  // Stores the first tokens.size() rows of `src` for `tokens` under namespace `ns`, and the first
  // min(aux->size(), tokens.size()) rows of `aux` when given; `persist`: also write the main rows
  // to the disk tier (the scheduler skips that for a prompt whose request goes on generating: its
  // final entry covers it, and writing both would double the disk traffic).
  void Insert(const std::vector<int32_t>& tokens, const KvCache& src, uint64_t ns = 0, const KvCache* aux = nullptr,
              bool persist = true);

  // The second tier (not owned; null: memory only).
  void set_disk(DiskCache* disk) { disk_ = disk; }

  size_t bytes() const { return bytes_; }
  size_t entries() const { return entries_.size(); }
  size_t budget() const { return budget_; }

 private:
  struct Entry {
    std::vector<int32_t> tokens;
    uint64_t ns = 0;
    std::shared_ptr<KvCache> kv;  // shared with a queued disk write
    std::unique_ptr<KvCache> aux;
    size_t bytes = 0;
  };
  void EvictToFit(size_t incoming);
  size_t budget_, bytes_ = 0;
  std::list<Entry> entries_;  // front: most recently used
  DiskCache* disk_ = nullptr;
};

}  // namespace qs
