// String -> id index over strings that live elsewhere (a vector indexed by id).
//
// Loading a 150k-token vocabulary needs ~600k string lookups; a node-based std::unordered_map
// spends most of that time allocating and chasing pointers. This is a flat open-addressing table
// of (hash tag, id) slots, compared against keys[id] only on a tag hit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace qs::tok {

class StrIndex {
 public:
  // `keys` must outlive the index and not change while it is used.
  explicit StrIndex(const std::vector<std::string>* keys = nullptr) : keys_(keys) {}
  void Reset(const std::vector<std::string>* keys) {
    keys_ = keys;
    slots_.clear();
    size_ = 0;
  }
  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    if (cap > slots_.size()) Rehash(cap);
  }
  // Indexes id under the string keys[id]. If that string is already present, `overwrite` decides
  // which id it maps to.
  void Insert(int32_t id, bool overwrite) {
    if ((size_ + 1) * 2 > slots_.size()) Rehash(slots_.empty() ? 16 : slots_.size() * 2);
    const std::string& k = (*keys_)[id];
    const uint64_t h = Hash(k);
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (s.id < 0) {
        s = {static_cast<uint32_t>(h >> 32), id};
        ++size_;
        return;
      }
      if (s.tag == static_cast<uint32_t>(h >> 32) && (*keys_)[s.id] == k) {
        if (overwrite) s.id = id;
        return;
      }
    }
  }
  int32_t Find(std::string_view k) const {
    if (slots_.empty()) return -1;
    const uint64_t h = Hash(k);
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.id < 0) return -1;
      if (s.tag == static_cast<uint32_t>(h >> 32) && (*keys_)[s.id] == k) return s.id;
    }
  }
  size_t size() const { return size_; }
  const std::vector<std::string>& keys() const { return *keys_; }
  // Calls fn(id) for every indexed id.
  void ForEach(const std::function<void(int32_t)>& fn) const {
    for (const Slot& s : slots_)
      if (s.id >= 0) fn(s.id);
  }

 private:
  struct Slot {
    uint32_t tag = 0;
    int32_t id = -1;
  };
  static uint64_t Hash(std::string_view s) {
    uint64_t h = std::hash<std::string_view>()(s);
    h ^= h >> 29;  // spread the low bits used for the slot
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 32);
  }
  void Rehash(size_t cap) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(cap, Slot{});
    size_ = 0;
    for (const Slot& s : old) {
      if (s.id < 0) continue;
      const uint64_t h = Hash((*keys_)[s.id]);
      for (size_t i = h & (cap - 1);; i = (i + 1) & (cap - 1))
        if (slots_[i].id < 0) {
          slots_[i] = {static_cast<uint32_t>(h >> 32), s.id};
          ++size_;
          break;
        }
    }
  }

  const std::vector<std::string>* keys_;
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace qs::tok
