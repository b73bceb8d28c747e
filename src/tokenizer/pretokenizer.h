// Pre-tokenization: cutting normalized text into the pieces ("words") that BPE sees one at a time.
//
// Mirrors Hugging Face `tokenizers`: a Sequence of steps, each step splitting every current piece
// on its own (a regex never sees across a piece boundary, lookaheads included). Steps:
//  * Split {pattern: Regex|String, behavior, invert}, behaviours Removed / Isolated /
//    MergedWithPrevious / MergedWithNext / Contiguous exactly as HF folds them;
//  * Digits {individual_digits} (= Split on \p{N} or \p{N}+, Isolated);
//  * ByteLevel {add_prefix_space, use_regex} (GPT-2 regex when use_regex), which must come last.
//
// HF compiles these regexes with Oniguruma (Ruby syntax); we use PCRE2 in UTF + UCP mode (JIT when
// available) after a small rewrite where the dialects differ (see TranslateOnigPattern).
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace qs::tok {

class Regex;

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokStep {
  enum class Kind { kSplit, kByteLevel };
  Kind kind = Kind::kSplit;
  std::shared_ptr<const Regex> regex;  // kSplit, and kByteLevel with use_regex
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;       // kByteLevel
};

// Per-call scratch (PCRE2 match data); one per thread / Encode call, never shared.
class PreTokScratch {
 public:
  PreTokScratch();
  ~PreTokScratch();
  PreTokScratch(const PreTokScratch&) = delete;
  PreTokScratch& operator=(const PreTokScratch&) = delete;
  void* match_data() const { return md_; }

 private:
  void* md_;
};

class PreTokenizer {
 public:
  // `j` is tokenizer.json's "pre_tokenizer" value. `where` names the file in errors.
  static Result<PreTokenizer> FromJson(const nlohmann::json& j, const std::string& where);
  // The regex list llama.cpp associates with a GGUF `tokenizer.ggml.pre` name, as the original
  // Hugging Face regexes (Sequence of Isolated splits followed by ByteLevel without regex).
  static Result<PreTokenizer> FromGgufPreName(const std::string& pre, const std::string& where);
  // A Sequence of Isolated splits on `patterns`, then ByteLevel(use_regex = false).
  static Result<PreTokenizer> FromRegexList(const std::vector<std::string>& patterns, const std::string& where);

  // Splits `text` (valid UTF-8) into pieces appended to *out. Pieces are views into `text` or into
  // *owned (a piece that ByteLevel's add_prefix_space extended); both must outlive their use.
  // Fails only if the regex engine reports an error (e.g. a resource limit), never on the text.
  Status Split(std::string_view text, PreTokScratch* scratch, std::vector<std::string_view>* out,
               std::vector<std::unique_ptr<std::string>>* owned) const;

  const std::vector<PreTokStep>& steps() const { return steps_; }

 private:
  std::vector<PreTokStep> steps_;
};

// Oniguruma (Ruby syntax, as HF uses it) -> PCRE2. PCRE2's UCP \s lacks U+0085 (NEL), which is
// White_Space for Oniguruma; Oniguruma's \h / \H are hex digits, PCRE2's are horizontal space.
std::string TranslateOnigPattern(std::string_view pattern);

// Compiled PCRE2 pattern (UTF, UCP, MULTILINE like Ruby's ^/$, LF newlines; JIT when available).
class Regex {
 public:
  static Result<std::shared_ptr<const Regex>> Compile(const std::string& pattern, bool literal,
                                                      const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first match in subject[start, len) (the subject is exactly the piece, so anchors and
  // lookarounds see only the piece). Returns 1 and sets [*ms, *me) on a match, 0 when none,
  // negative on an engine error.
  int Find(std::string_view subject, size_t start, PreTokScratch* scratch, size_t* ms, size_t* me) const;
  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code*
  bool jit_ = false;
};

}  // namespace qs::tok
