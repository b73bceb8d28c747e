// Added tokens (tokenizer.json `added_tokens`; GGUF control / user-defined tokens): found in the
// text before pre-tokenization, as Hugging Face's AddedVocabulary does it.
//
// Matching is leftmost-longest over all contents (HF's Aho-Corasick with LeftmostLongest), then
// the per-token options: single_word (reject a match glued to word characters), lstrip / rstrip
// (the token swallows the whitespace on that side). A rejected match is skipped whole, as the
// non-overlapping match iterator does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace qs::tok {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool normalized = false;
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
};

struct TextSegment {
  size_t begin, end;  // byte range in the searched text
  int32_t id;         // the added token's id, or -1 for ordinary text
};

class AddedTokenMatcher {
 public:
  // `patterns[i]` is what is searched for token `tokens[i]` (its content, normalized if the token is).
  void Build(const std::vector<const AddedToken*>& tokens, const std::vector<std::string>& patterns);
  bool empty() const { return tokens_.empty(); }
  // Cuts `text` (valid UTF-8) into ordinary and added-token segments covering it in order; empty
  // ordinary segments are left out.
  void Split(std::string_view text, std::vector<TextSegment>* out) const;

 private:
  // Longest pattern starting at text[pos]: its index into tokens_, or -1.
  int LongestAt(std::string_view text, size_t pos, size_t* len) const;

  std::vector<const AddedToken*> tokens_;
  // Byte trie: node 0 is the root; child of (node, byte) in `edges_`; `term_[node]` = token index.
  std::unordered_map<uint64_t, int32_t> edges_;
  std::vector<int32_t> term_;
  bool first_byte_[256] = {};
};

}  // namespace qs::tok
