// The byte-level BPE model: merges one pre-tokenized piece into token ids.
//
// Semantics are Hugging Face's `BPE::merge_word`: start from one symbol per byte (the vocab id of
// the byte's alphabet character; a byte missing from the vocab is dropped, as HF does without an
// unk token), then repeatedly apply the merge of lowest rank, leftmost first, until none applies.
// With `ignore_merges` (Llama-3) a piece that is itself a vocab entry is emitted whole.
//
// Speed: merges live in an open-addressing table keyed by the (left id, right id) pair; short
// pieces use a tiny quadratic scan, long ones a heap over a linked list; results are kept in a
// sharded word cache, since natural text repeats its words.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"
#include "tokenizer/str_index.h"

namespace qs::tok {

class BpeModel {
 public:
  // `vocab`: byte-level token string -> id (the model's own vocabulary, no added tokens). `merges`: (left, right) token strings, highest priority
  // first. A merge naming a string missing from `vocab` is an error when `strict` (HF refuses such a
  // tokenizer.json), else it is skipped and counted in *skipped (llama.cpp tolerates it in GGUF).
  static Result<std::unique_ptr<BpeModel>> Build(const StrIndex& vocab,
                                                 const std::vector<std::pair<std::string, std::string>>& merges,
                                                 bool ignore_merges, bool strict, const std::string& where,
                                                 size_t* skipped = nullptr);

  // Appends the ids of one piece (raw bytes, non-empty) to *out.
  void EncodeWord(std::string_view piece, std::vector<int32_t>* out) const;
  // The same without the cache, with a chosen algorithm (tests compare the two).
  void MergeWord(std::string_view piece, bool use_heap, std::vector<int32_t>* out) const;

  size_t num_merges() const { return num_merges_; }

 private:
  BpeModel() = default;

  struct MergeHit {
    uint32_t rank;
    int32_t new_id;
  };
  bool FindMerge(int32_t a, int32_t b, MergeHit* hit) const;
  void InsertMerge(int32_t a, int32_t b, MergeHit hit);

  std::array<int32_t, 256> byte_id_{};
  // Open addressing: key = (a << 32) | b, kEmptyKey when free.
  std::vector<uint64_t> merge_keys_;
  std::vector<MergeHit> merge_vals_;
  uint64_t merge_mask_ = 0;
  size_t num_merges_ = 0;
  // ignore_merges: raw piece bytes -> id, for pieces that are whole vocab entries.
  bool ignore_merges_ = false;
  std::vector<std::string> raw_tokens_;  // id -> decoded bytes
  StrIndex whole_words_;

  struct StrHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct CacheShard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StrHash, std::equal_to<>> map;
  };
  static constexpr size_t kCacheShards = 16;
  static constexpr size_t kCacheShardCap = 8192;  // entries per shard; a full shard is cleared
  static constexpr size_t kCacheMaxWord = 256;    // longer pieces are rare and not cached
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace qs::tok
