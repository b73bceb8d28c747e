// JSON mode: constrained decoding that only lets through tokens keeping the output a prefix of a
// valid JSON object (RFC 8259), and the end-of-sequence token only once the object is complete.
// Works on the tokens' bytes, so every vocabulary entry is a candidate, not a fixed grammar of
// tokens; the scheduler asks for the full mask only when its unconstrained draw is rejected.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/scheduler.h"

namespace qs {

class Tokenizer;

// Character-level incremental JSON validator (a pushdown automaton).
class JsonPrefixState {
 public:
  // Top level must be an object when `object_only` (OpenAI/DeepSeek json_object).
  explicit JsonPrefixState(bool object_only = true) : object_only_(object_only) {}
  bool Feed(char c);  // false: `c` cannot extend a valid JSON prefix (state is then undefined)
  bool Feed(std::string_view s) {
    for (char c : s)
      if (!Feed(c)) return false;
    return true;
  }
  bool complete() const { return mode_ == kDone; }
  // Most consecutive whitespace characters allowed outside strings (a model could otherwise pad
  // forever without breaking validity).
  static constexpr int kMaxWhitespace = 24;

 private:
  enum Mode : uint8_t { kValue, kKeyOrEnd, kKey, kString, kEscape, kUnicode, kColon, kAfterValue,
                        kNumber, kLiteral, kDone };
  bool EndValue();
  bool StartValue(char c);
  bool NumberChar(char c);
  bool object_only_;
  Mode mode_ = kValue;
  bool is_key_ = false, value_or_end_ = false;  // value_or_end_: just after '[' (']' allowed)
  uint8_t sub_ = 0, ws_ = 0;                     // number state / unicode digits / literal index
  const char* lit_ = nullptr;
  std::string stack_;  // '{' / '['
};

// Vocabulary bytes, computed once per tokenizer and shared by every JSON-mode request.
struct VocabBytes {
  std::vector<std::string> bytes;  // decoded bytes of each token ("" for special tokens)
  static std::shared_ptr<const VocabBytes> Build(const Tokenizer& tok);
};

class JsonConstraint : public TokenConstraint {
 public:
  JsonConstraint(std::shared_ptr<const VocabBytes> vocab, std::vector<int32_t> eos_ids)
      : vocab_(std::move(vocab)), eos_(std::move(eos_ids)) {}
  bool Allows(int32_t token) override;
  void Mask(std::vector<uint8_t>* allowed) override;
  void Accept(int32_t token) override;
  bool complete() const { return st_.complete(); }

 private:
  bool IsEos(int32_t t) const;
  std::shared_ptr<const VocabBytes> vocab_;
  std::vector<int32_t> eos_;
  JsonPrefixState st_;
};

}  // namespace qs
