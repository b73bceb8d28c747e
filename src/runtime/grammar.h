// Grammar-constrained decoding: a context-free grammar over bytes, an incremental matcher, and a
// TokenConstraint that lets through only the tokens whose bytes keep the output a prefix of a
// sentence of the grammar (and the end-of-sequence token only once a sentence is complete).
//
// The representation and the matcher follow llama.cpp's grammar sampler (llama-grammar.cpp): each
// rule is a list of alternatives, each a sequence of byte sets and rule references; the matcher
// state is a set of stacks of positions, one per live parse, whose tops are byte sets. A reference
// at the end of an alternative replaces its caller's position instead of stacking on it, so right
// recursion (repetition) does not grow the stacks. Grammars come from builders (JSON schema,
// tool-call syntaxes), never from users, so there is no text format and no left recursion.
//
// Special tokens the grammar needs (tool-call markup such as <｜tool▁call▁end｜>) are written into
// the grammar as two bytes, 0xFF and the token's index in `SpecialTokens`: 0xF5-0xFF never occur
// in UTF-8 text, so no byte set for text admits them and no text can spell a special token.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/json_constraint.h"
#include "runtime/scheduler.h"

namespace qs {

class Tokenizer;

using ByteSet = std::bitset<256>;

class Grammar {
 public:
  // An element: a byte set (>= 0, its index) or a rule reference (RefElem).
  using Elem = int32_t;
  using Seq = std::vector<Elem>;

  Grammar();
  int NewRule();
  void AddAlt(int rule, const Seq& seq);
  Elem Set(const ByteSet& s);
  Elem Byte(uint8_t b);
  static Elem Ref(int rule) { return -(rule + 1); }
  Seq Lit(std::string_view text);
  // Rules built from others: "" | seq; seq repeated (0+); seq repeated min..max times (max < 0:
  // unbounded).
  int Opt(const Seq& seq);
  int Star(const Seq& seq);
  int Repeat(const Seq& seq, int min, int max);
  // A rule for any text (bytes of UTF-8 text: no 0xF5-0xFF, so no special token) that does not
  // contain `avoid` (a Knuth-Morris-Pratt automaton written as a right-linear grammar).
  int TextAvoiding(std::string_view avoid);
  void set_root(int rule) { root_ = rule; }
  int root() const { return root_; }
  size_t rules() const { return alts_.size(); }

  // One UTF-8 character (RFC 3629 §4: no overlong forms, no surrogates): a byte of `ascii` (ASCII
  // bytes allowed) or a well-formed multi-byte sequence.
  int Utf8Char(const ByteSet& ascii);
  // Text bytes (what may appear in UTF-8 text, no special-token marker).
  static ByteSet TextBytes();

 private:
  friend class GrammarMatcher;
  static constexpr Elem kEnd = INT32_MIN;
  std::vector<Elem> code_;                    // alternatives, each ended by kEnd
  std::vector<std::vector<uint32_t>> alts_;   // per rule: start offsets in code_
  std::vector<ByteSet> sets_;
  int byte_set_[256];                          // index of the single-byte set, or -1
  int root_ = 0;
};

class GrammarMatcher {
 public:
  explicit GrammarMatcher(std::shared_ptr<const Grammar> g);
  // false (state unchanged): the bytes cannot continue a sentence.
  bool Feed(uint8_t b);
  bool Feed(std::string_view s);
  bool CanEnd() const;  // what was fed is a whole sentence
  bool Dead() const { return stacks_.empty(); }
  // The state as bytes (equal keys: equal states), to intern states.
  std::string Key() const;
  // At most this many parses are followed at once (ambiguous grammars would grow without bound);
  // beyond it the later ones are dropped: the output stays valid, only less choice remains.
  static constexpr size_t kMaxStacks = 512;

 private:
  using Stack = std::vector<uint32_t>;
  void Expand(Stack s, std::vector<Stack>* out, int depth) const;
  std::shared_ptr<const Grammar> g_;
  std::vector<Stack> stacks_;
};

// Special tokens a grammar refers to, by their text: Mark(text) returns the text's encoding in the
// grammar (0xFF, index) when the tokenizer has a special token of that content, else the text.
class SpecialTokens {
 public:
  explicit SpecialTokens(const Tokenizer* tok) : tok_(tok) {}
  std::string Mark(std::string_view text);
  const std::vector<std::pair<int32_t, std::string>>& tokens() const { return tokens_; }

 private:
  const Tokenizer* tok_;
  std::vector<std::pair<int32_t, std::string>> tokens_;  // id, encoding
};

// A prefix tree of the vocabulary's bytes, so that a mask feeds each shared prefix once.
struct VocabTrie {
  struct Node {
    uint32_t first = 0, count = 0;        // children: edges_[first, first + count)
    uint32_t tok_first = 0, tok_count = 0;  // tokens ending here: toks_[...]
  };
  std::vector<Node> nodes;
  std::vector<std::pair<uint8_t, uint32_t>> edges;
  std::vector<int32_t> toks;
  // Built once per vocabulary and cached.
  static std::shared_ptr<const VocabTrie> For(const std::shared_ptr<const VocabBytes>& vocab);
};

// A mask walks the vocabulary's prefix tree from the current state, one byte per edge. Matcher
// states repeat (inside a string every ordinary character leads back to the same state), so the
// constraint interns them and caches their byte transitions: a lazily built DFA over the states
// met, as in XGrammar's and Outlines' precomputed masks but built on demand. A walk is then a
// table lookup per edge: a mask costs milliseconds where feeding a matcher per edge costs a second.
class GrammarConstraint : public TokenConstraint {
 public:
  GrammarConstraint(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabBytes> vocab,
                    std::vector<int32_t> eos_ids, std::vector<std::pair<int32_t, std::string>> specials = {});
  bool Allows(int32_t token) override;
  void Mask(std::vector<uint8_t>* allowed) override;
  void Accept(int32_t token) override;
  const GrammarMatcher& matcher() const { return m_; }

 private:
  const std::string* Bytes(int32_t token) const;  // null: never allowed (eos handled apart)
  bool IsEos(int32_t t) const;
  void Walk(uint32_t node, int state, std::vector<uint8_t>* ok);
  int Intern(const GrammarMatcher& m);   // the state's id in the cache
  int Next(int state, uint8_t b);         // -1: the byte is refused
  static constexpr size_t kMaxStates = 4096;
  std::shared_ptr<const VocabBytes> vocab_;
  std::shared_ptr<const VocabTrie> trie_;
  std::vector<int32_t> eos_;
  std::vector<std::pair<int32_t, std::string>> specials_;
  GrammarMatcher m_;
  std::vector<GrammarMatcher> states_;
  std::vector<std::array<int32_t, 256>> next_;  // -2: not computed yet
  std::unordered_map<std::string, int> ids_;
};

}  // namespace qs
