#include "tokenizer/added_tokens.h"

#include <utf8proc.h>

#include "tokenizer/byte_level.h"

namespace qs::tok {
namespace {

// Unicode White_Space (Rust's char::is_whitespace, regex \s).
bool IsWhiteSpace(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Rust regex's Unicode \w: alphabetic, marks, decimal digits, connector punctuation (approximated
// by general category; close enough for the single_word check).
bool IsWordChar(uint32_t c) {
  if (c < 0x80) return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC:
      return true;
    default:
      return false;
  }
}

// The code point that ends at byte `end` of valid UTF-8 `s` (end > 0).
uint32_t CodepointBefore(std::string_view s, size_t end, size_t* start) {
  size_t p = end - 1;
  while (p > 0 && (static_cast<unsigned char>(s[p]) & 0xC0) == 0x80) --p;
  *start = p;
  size_t q = p;
  return NextCodepoint(s, &q);
}

}  // namespace

void AddedTokenMatcher::Build(const std::vector<const AddedToken*>& tokens, const std::vector<std::string>& patterns) {
  tokens_ = tokens;
  edges_.clear();
  term_.assign(1, -1);
  for (auto& f : first_byte_) f = false;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::string& p = patterns[t];
    if (p.empty()) continue;  // HF ignores empty added tokens
    first_byte_[static_cast<unsigned char>(p[0])] = true;
    int32_t node = 0;
    for (unsigned char c : p) {
      uint64_t key = (static_cast<uint64_t>(node) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        int32_t child = static_cast<int32_t>(term_.size());
        term_.push_back(-1);
        it = edges_.emplace(key, child).first;
      }
      node = it->second;
    }
    if (term_[node] < 0) term_[node] = static_cast<int32_t>(t);  // first of duplicate contents wins
  }
}

int AddedTokenMatcher::LongestAt(std::string_view text, size_t pos, size_t* len) const {
  int best = -1;
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(text[i]));
    if (it == edges_.end()) break;
    node = it->second;
    if (term_[node] >= 0) {
      best = term_[node];
      *len = i + 1 - pos;
    }
  }
  return best;
}

void AddedTokenMatcher::Split(std::string_view text, std::vector<TextSegment>* out) const {
  size_t prev_end = 0;  // end of the last emitted segment
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    size_t len = 0;
    int t = LongestAt(text, pos, &len);
    if (t < 0) {
      ++pos;
      continue;
    }
    const AddedToken& tok = *tokens_[t];
    size_t start = pos, stop = pos + len;
    pos = stop;  // non-overlapping iteration resumes after this match, accepted or not
    if (tok.single_word) {
      size_t s;
      bool word_before = start > 0 && IsWordChar(CodepointBefore(text, start, &s));
      size_t q = stop;
      bool word_after = stop < text.size() && IsWordChar(NextCodepoint(text, &q));
      if (word_before || word_after) continue;
    }
    if (tok.lstrip) {
      size_t s;
      while (start > prev_end && IsWhiteSpace(CodepointBefore(text, start, &s))) start = s;
    }
    if (tok.rstrip) {
      size_t q = stop;
      while (stop < text.size() && IsWhiteSpace(NextCodepoint(text, &q))) stop = q;
      pos = stop;
    }
    if (start > prev_end) out->push_back({prev_end, start, -1});
    out->push_back({start, stop, tok.id});
    prev_end = stop;
  }
  if (prev_end < text.size()) out->push_back({prev_end, text.size(), -1});
}

}  // namespace qs::tok
