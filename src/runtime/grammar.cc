#include "runtime/grammar.h"

#include <algorithm>
#include <map>
#include <mutex>

#include "tokenizer/tokenizer.h"

namespace qs {

Grammar::Grammar() { std::fill(std::begin(byte_set_), std::end(byte_set_), -1); }

int Grammar::NewRule() {
  alts_.emplace_back();
  return static_cast<int>(alts_.size()) - 1;
}

void Grammar::AddAlt(int rule, const Seq& seq) {
  alts_[static_cast<size_t>(rule)].push_back(static_cast<uint32_t>(code_.size()));
  code_.insert(code_.end(), seq.begin(), seq.end());
  code_.push_back(kEnd);
}

Grammar::Elem Grammar::Set(const ByteSet& s) {
  if (s.count() == 1)
    for (int b = 0; b < 256; ++b)
      if (s[static_cast<size_t>(b)]) return Byte(static_cast<uint8_t>(b));
  sets_.push_back(s);
  return static_cast<Elem>(sets_.size()) - 1;
}

Grammar::Elem Grammar::Byte(uint8_t b) {
  if (byte_set_[b] < 0) {
    ByteSet s;
    s.set(b);
    sets_.push_back(s);
    byte_set_[b] = static_cast<int>(sets_.size()) - 1;
  }
  return byte_set_[b];
}

Grammar::Seq Grammar::Lit(std::string_view text) {
  Seq s;
  for (char c : text) s.push_back(Byte(static_cast<uint8_t>(c)));
  return s;
}

int Grammar::Opt(const Seq& seq) {
  int r = NewRule();
  AddAlt(r, {});
  AddAlt(r, seq);
  return r;
}

int Grammar::Star(const Seq& seq) {
  int r = NewRule();
  AddAlt(r, {});
  Seq s = seq;
  s.push_back(Ref(r));
  AddAlt(r, s);
  return r;
}

int Grammar::Repeat(const Seq& seq, int min, int max) {
  int tail;
  if (max < 0) {
    tail = Star(seq);
  } else {
    // T_0 ::= "" ; T_k ::= "" | seq T_{k-1}: at most max - min more.
    tail = NewRule();
    AddAlt(tail, {});
    for (int k = 1; k <= max - min; ++k) {
      int t = NewRule();
      AddAlt(t, {});
      Seq s = seq;
      s.push_back(Ref(tail));
      AddAlt(t, s);
      tail = t;
    }
  }
  int r = NewRule();
  Seq s;
  for (int i = 0; i < min; ++i) s.insert(s.end(), seq.begin(), seq.end());
  s.push_back(Ref(tail));
  AddAlt(r, s);
  return r;
}

int Grammar::Utf8Char(const ByteSet& ascii) {
  auto range = [](int lo, int hi) {
    ByteSet b;
    for (int c = lo; c <= hi; ++c) b.set(static_cast<size_t>(c));
    return b;
  };
  int r = NewRule();
  ByteSet a = ascii & range(0, 0x7F);
  if (a.any()) AddAlt(r, {Set(a)});
  const Elem c = Set(range(0x80, 0xBF));
  AddAlt(r, {Set(range(0xC2, 0xDF)), c});
  AddAlt(r, {Byte(0xE0), Set(range(0xA0, 0xBF)), c});
  AddAlt(r, {Set(range(0xE1, 0xEC) | range(0xEE, 0xEF)), c, c});
  AddAlt(r, {Byte(0xED), Set(range(0x80, 0x9F)), c});
  AddAlt(r, {Byte(0xF0), Set(range(0x90, 0xBF)), c, c});
  AddAlt(r, {Set(range(0xF1, 0xF3)), c, c, c});
  AddAlt(r, {Byte(0xF4), Set(range(0x80, 0x8F)), c, c});
  return r;
}

ByteSet Grammar::TextBytes() {
  ByteSet s;
  for (int b = 0x01; b <= 0xF4; ++b) s.set(static_cast<size_t>(b));
  return s;
}

int Grammar::TextAvoiding(std::string_view avoid) {
  const ByteSet text = TextBytes();
  if (avoid.empty()) return Star({Set(text)});
  const size_t n = avoid.size();
  // next(j, c): the longest prefix of `avoid` that is a suffix of avoid[0, j) + c.
  auto next = [&](size_t j, uint8_t c) {
    std::string s(avoid.substr(0, j));
    s.push_back(static_cast<char>(c));
    for (size_t k = std::min(n, s.size()); k > 0; --k)
      if (s.compare(s.size() - k, k, avoid.substr(0, k)) == 0) return k;
    return size_t{0};
  };
  std::vector<int> state(n);
  for (size_t j = 0; j < n; ++j) state[j] = NewRule();
  for (size_t j = 0; j < n; ++j) {
    AddAlt(state[j], {});
    std::map<size_t, ByteSet> by_target;
    for (int c = 0; c < 256; ++c) {
      if (!text[static_cast<size_t>(c)]) continue;
      size_t t = next(j, static_cast<uint8_t>(c));
      if (t < n) by_target[t].set(static_cast<size_t>(c));
    }
    for (auto& [t, set] : by_target) AddAlt(state[j], {Set(set), Ref(state[t])});
  }
  return state[0];
}

GrammarMatcher::GrammarMatcher(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
  for (uint32_t a : g_->alts_[static_cast<size_t>(g_->root_)]) {
    Stack s;
    if (g_->code_[a] != Grammar::kEnd) s.push_back(a);
    Expand(std::move(s), &stacks_, 0);
  }
  std::sort(stacks_.begin(), stacks_.end());
  stacks_.erase(std::unique(stacks_.begin(), stacks_.end()), stacks_.end());
}

void GrammarMatcher::Expand(Stack s, std::vector<Stack>* out, int depth) const {
  const auto& code = g_->code_;
  while (!s.empty()) {
    const uint32_t p = s.back();
    const Grammar::Elem e = code[p];
    if (e >= 0) break;  // a byte set on top: ready to match
    s.pop_back();
    if (e == Grammar::kEnd) continue;
    // A reference: continue after it (unless it ends the alternative: tail position), then
    // enter each alternative of the rule. Builders write no left recursion; the depth bound
    // only keeps a mistake from overflowing the stack.
    if (code[p + 1] != Grammar::kEnd) s.push_back(p + 1);
    if (depth > 200) return;
    const auto& alts = g_->alts_[static_cast<size_t>(-e - 1)];
    for (size_t i = 0; i < alts.size(); ++i) {
      Stack t = i + 1 == alts.size() ? std::move(s) : s;
      if (code[alts[i]] != Grammar::kEnd) t.push_back(alts[i]);
      Expand(std::move(t), out, depth + 1);
    }
    return;
  }
  if (out->size() < kMaxStacks) out->push_back(std::move(s));  // empty: a complete sentence
}

bool GrammarMatcher::Feed(uint8_t b) {
  const auto& code = g_->code_;
  std::vector<Stack> next;
  for (const Stack& s : stacks_) {
    if (s.empty()) continue;
    const uint32_t p = s.back();
    if (!g_->sets_[static_cast<size_t>(code[p])][b]) continue;
    Stack t(s.begin(), s.end() - 1);
    if (code[p + 1] != Grammar::kEnd) t.push_back(p + 1);
    Expand(std::move(t), &next, 0);
  }
  if (next.empty()) return false;
  if (next.size() > 1) {
    std::sort(next.begin(), next.end());
    next.erase(std::unique(next.begin(), next.end()), next.end());
  }
  stacks_ = std::move(next);
  return true;
}

bool GrammarMatcher::Feed(std::string_view s) {
  GrammarMatcher m = *this;
  for (char c : s)
    if (!m.Feed(static_cast<uint8_t>(c))) return false;
  *this = std::move(m);
  return true;
}

std::string GrammarMatcher::Key() const {
  std::string k;
  for (const Stack& s : stacks_) {
    k.append(reinterpret_cast<const char*>(s.data()), s.size() * sizeof(uint32_t));
    k.append(4, '\xFF');  // no position is 0xFFFFFFFF
  }
  return k;
}

bool GrammarMatcher::CanEnd() const {
  for (const Stack& s : stacks_)
    if (s.empty()) return true;
  return false;
}

std::string SpecialTokens::Mark(std::string_view text) {
  int32_t id = tok_ ? tok_->TokenId(text) : -1;
  if (id < 0 || !tok_->IsSpecial(id)) return std::string(text);
  for (auto& [t, enc] : tokens_)
    if (t == id) return enc;
  std::string enc = "\xFF";
  enc.push_back(static_cast<char>(tokens_.size() + 1));
  tokens_.emplace_back(id, enc);
  return enc;
}

namespace {
struct TrieBuilder {
  const std::vector<std::string>& bytes;
  std::vector<int32_t> order;
  VocabTrie* t;
  uint32_t Build(size_t lo, size_t hi, size_t d) {
    const uint32_t idx = static_cast<uint32_t>(t->nodes.size());
    t->nodes.emplace_back();
    VocabTrie::Node n;
    n.tok_first = static_cast<uint32_t>(t->toks.size());
    size_t i = lo;
    while (i < hi && bytes[static_cast<size_t>(order[i])].size() == d) t->toks.push_back(order[i++]);
    n.tok_count = static_cast<uint32_t>(t->toks.size()) - n.tok_first;
    std::vector<std::pair<size_t, size_t>> groups;
    for (size_t j = i; j < hi;) {
      const char c = bytes[static_cast<size_t>(order[j])][d];
      size_t k = j;
      while (k < hi && bytes[static_cast<size_t>(order[k])][d] == c) ++k;
      groups.emplace_back(j, k);
      j = k;
    }
    n.first = static_cast<uint32_t>(t->edges.size());
    n.count = static_cast<uint32_t>(groups.size());
    t->edges.resize(t->edges.size() + groups.size());
    for (size_t g = 0; g < groups.size(); ++g) {
      const uint8_t c = static_cast<uint8_t>(bytes[static_cast<size_t>(order[groups[g].first])][d]);
      uint32_t child = Build(groups[g].first, groups[g].second, d + 1);
      t->edges[n.first + g] = {c, child};
    }
    t->nodes[idx] = n;
    return idx;
  }
};
}  // namespace

std::shared_ptr<const VocabTrie> VocabTrie::For(const std::shared_ptr<const VocabBytes>& vocab) {
  static std::mutex mu;
  static std::map<const VocabBytes*, std::weak_ptr<const VocabTrie>> cache;
  std::lock_guard<std::mutex> lk(mu);
  if (auto it = cache.find(vocab.get()); it != cache.end())
    if (auto t = it->second.lock()) return t;
  auto t = std::make_shared<VocabTrie>();
  TrieBuilder b{vocab->bytes, {}, t.get()};
  for (size_t i = 0; i < vocab->bytes.size(); ++i)
    if (!vocab->bytes[i].empty()) b.order.push_back(static_cast<int32_t>(i));
  std::sort(b.order.begin(), b.order.end(), [&](int32_t x, int32_t y) {
    return vocab->bytes[static_cast<size_t>(x)] < vocab->bytes[static_cast<size_t>(y)];
  });
  b.Build(0, b.order.size(), 0);
  cache[vocab.get()] = t;
  return t;
}

GrammarConstraint::GrammarConstraint(std::shared_ptr<const Grammar> g, std::shared_ptr<const VocabBytes> vocab,
                                     std::vector<int32_t> eos_ids, std::vector<std::pair<int32_t, std::string>> specials)
    : vocab_(std::move(vocab)), trie_(VocabTrie::For(vocab_)), eos_(std::move(eos_ids)),
      specials_(std::move(specials)), m_(std::move(g)) {}

bool GrammarConstraint::IsEos(int32_t t) const { return std::find(eos_.begin(), eos_.end(), t) != eos_.end(); }

const std::string* GrammarConstraint::Bytes(int32_t token) const {
  for (auto& [id, enc] : specials_)
    if (id == token) return &enc;
  if (token < 0 || static_cast<size_t>(token) >= vocab_->bytes.size()) return nullptr;
  const std::string& b = vocab_->bytes[static_cast<size_t>(token)];
  return b.empty() ? nullptr : &b;
}

bool GrammarConstraint::Allows(int32_t token) {
  if (IsEos(token)) return m_.CanEnd();
  const std::string* b = Bytes(token);
  if (!b) return false;
  GrammarMatcher m = m_;
  return m.Feed(*b);
}

int GrammarConstraint::Intern(const GrammarMatcher& m) {
  std::string key = m.Key();
  if (auto it = ids_.find(key); it != ids_.end()) return it->second;
  const int id = static_cast<int>(states_.size());
  states_.push_back(m);
  std::array<int32_t, 256> row;
  row.fill(-2);
  next_.push_back(row);
  ids_.emplace(std::move(key), id);
  return id;
}

int GrammarConstraint::Next(int state, uint8_t b) {
  int32_t n = next_[static_cast<size_t>(state)][b];
  if (n != -2) return n;
  GrammarMatcher m = states_[static_cast<size_t>(state)];
  n = m.Feed(b) ? Intern(m) : -1;
  next_[static_cast<size_t>(state)][b] = n;
  return n;
}

void GrammarConstraint::Walk(uint32_t node, int state, std::vector<uint8_t>* ok) {
  const VocabTrie::Node& nd = trie_->nodes[node];
  for (uint32_t e = nd.first; e < nd.first + nd.count; ++e) {
    const int t = Next(state, trie_->edges[e].first);
    if (t < 0) continue;
    const VocabTrie::Node& c = trie_->nodes[trie_->edges[e].second];
    for (uint32_t i = c.tok_first; i < c.tok_first + c.tok_count; ++i) {
      size_t tok = static_cast<size_t>(trie_->toks[i]);
      if (tok < ok->size()) (*ok)[tok] = 1;
    }
    Walk(trie_->edges[e].second, t, ok);
  }
}

void GrammarConstraint::Mask(std::vector<uint8_t>* allowed) {
  std::vector<uint8_t> ok(allowed->size(), 0);
  if (!trie_->nodes.empty()) {
    // States are never dropped during a walk (it holds their ids); between walks the cache starts
    // afresh once it is large (one walk meets at most a few states per byte of depth).
    if (states_.size() > kMaxStates) {
      states_.clear();
      next_.clear();
      ids_.clear();
    }
    Walk(0, Intern(m_), &ok);
  }
  for (auto& [id, enc] : specials_) {
    GrammarMatcher m = m_;
    if (id >= 0 && static_cast<size_t>(id) < ok.size()) ok[static_cast<size_t>(id)] = m.Feed(enc);
  }
  for (int32_t e : eos_)
    if (e >= 0 && static_cast<size_t>(e) < ok.size()) ok[static_cast<size_t>(e)] = m_.CanEnd();
  for (size_t i = 0; i < allowed->size(); ++i) (*allowed)[i] = (*allowed)[i] && ok[i];
}

void GrammarConstraint::Accept(int32_t token) {
  if (IsEos(token)) return;
  if (const std::string* b = Bytes(token)) m_.Feed(*b);
}

}  // namespace qs
