// The prefix cache's second tier: KV rows of earlier prompts kept in files under a bounded
// directory (`serve --cache-dir DIR --cache-dir-bytes N`), so that they survive a restart and
// outgrow the memory budget. DeepSeek's API does the same ("context caching on disk",
// https://api-docs.deepseek.com/guides/kv_cache); vLLM / LMCache and SGLang's HiCache spill KV to
// disk likewise.
//
// Layout: DIR/<model key, 16 hex digits>/<hash of namespace and tokens>.kv. The model key hashes
// the model's config, its weight files (name, size and sampled bytes) and the cache's row layout
// and dtype, so another model, another quantisation or another cache format never reads these
// entries (each model has its own subdirectory; the byte bound applies to it).
//
// Every file is verified before a single row is used: magic, version, header CRC, model key,
// namespace, token count, widths, payload length against the file size, and CRC-32C of the tokens
// and of the payload. A corrupt, truncated or mismatched file is deleted and treated as a miss,
// never served. Files are written to a temporary name and renamed into place (atomic on POSIX), so
// a crash leaves either the old state or a whole new file; a stray temporary is deleted at start.
//
// Entries are namespaced like the memory tier (API key and `user`, runtime/prefix_cache.h).
// Least-recently-used eviction by bytes; a hit touches the file's mtime, so the order survives a
// restart. Writes happen on a background thread (the scheduler never waits for the disk to
// store); reads happen on the scheduler thread when a request is admitted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "model/kv_cache.h"

namespace qs {

struct DiskCacheOptions {
  std::string dir;         // root directory (created if missing)
  uint64_t max_bytes = 0;  // bound on this model's entry files, in bytes
  uint64_t model_key = 0;  // ModelCacheKey(): entries of other keys live elsewhere
};

struct DiskCacheStats {
  uint64_t entries = 0, bytes = 0;
  uint64_t hits = 0, hit_tokens = 0;  // lookups served from disk
  uint64_t writes = 0;                // entry files written
  uint64_t dropped = 0;               // corrupt, truncated or mismatched files deleted
  uint64_t evicted = 0;               // files deleted to stay within max_bytes
  uint64_t skipped = 0;               // writes dropped because the queue was full
};

class DiskCache {
 public:
  // Creates DIR/<model key>/, deletes stray temporaries and invalid files, indexes the valid
  // ones (header and tokens only) and evicts down to max_bytes.
  static Result<std::unique_ptr<DiskCache>> Open(const DiskCacheOptions& opt);
  ~DiskCache();  // writes still queued are finished first
  DiskCache(const DiskCache&) = delete;
  DiskCache& operator=(const DiskCache&) = delete;

  // The longest common prefix (at most max_len tokens) of `tokens` with an entry of namespace
  // `ns`, if it is longer than `min_len`: its rows are read, verified, and copied into `dst`
  // (replacing its contents); returns their number. 0: no such entry, or it failed verification
  // (then it is deleted and `dst` is left empty).
  int64_t Lookup(const std::vector<int32_t>& tokens, int64_t max_len, int64_t min_len, KvCache* dst, uint64_t ns);
  // Queues the first tokens.size() rows of `kv` for writing (kv must not change afterwards).
  // Entries of the same namespace that are a prefix of it are deleted once it is written; nothing
  // is written when an entry already covers it. When kMaxQueued writes are already waiting (the
  // disk is slower than the requests) it is dropped rather than held in memory.
  static constexpr size_t kMaxQueued = 32;
  void Store(std::vector<int32_t> tokens, std::shared_ptr<const KvCache> kv, uint64_t ns);
  // Waits until every queued write is on disk.
  void Flush();

  DiskCacheStats Stats() const;
  const std::string& dir() const { return dir_; }

 private:
  struct Entry {
    std::string file;  // name inside dir_
    uint64_t ns = 0;
    std::vector<int32_t> tokens;
    uint64_t bytes = 0;
    uint64_t last_use = 0;  // LRU clock
  };
  struct Job {
    std::vector<int32_t> tokens;
    std::shared_ptr<const KvCache> kv;
    uint64_t ns = 0;
  };
  explicit DiskCache(const DiskCacheOptions& opt, std::string dir);
  Status Scan();
  void WriterLoop();
  void Write(const Job& job);
  void DropLocked(size_t i, bool corrupt);  // deletes the file and forgets the entry
  void EvictLocked();

  DiskCacheOptions opt_;
  std::string dir_;
  mutable std::mutex mu_;  // index and stats; held while an entry is read
  std::vector<Entry> index_;
  uint64_t clock_ = 0, bytes_ = 0;
  DiskCacheStats stats_;

  std::mutex qmu_;
  std::condition_variable qcv_, idle_cv_;
  std::deque<Job> queue_;
  bool writing_ = false, stop_ = false;
  std::thread writer_;
};

// The model's identity for the disk cache: config.json (or the GGUF file's header) in full, each
// weight file's name and size and 64 KiB sampled at its start, middle and end (hashing hundreds of
// GB at every start would take minutes; two checkpoints that differ only elsewhere in the middle of
// a shard would have to share config, sizes and three samples), plus the cache layout (`probe`:
// any cache of the model, for its layer count and row widths) and its dtype (fp32 rows).
Result<uint64_t> ModelCacheKey(const std::string& model_path, const KvCache& probe);

}  // namespace qs
