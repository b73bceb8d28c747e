#include "runtime/json_constraint.h"

#include <algorithm>
#include <cstring>

#include "tokenizer/tokenizer.h"

namespace qs {

namespace {
bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
// Number sub-states (RFC 8259 §6): after '-', after leading 0, in int digits, after '.', in
// fraction digits, after 'e', after exponent sign, in exponent digits.
enum NumState : uint8_t { kMinus, kZero, kInt, kDot, kFrac, kExp, kExpSign, kExpDigits };
bool NumberCanEnd(uint8_t s) { return s == kZero || s == kInt || s == kFrac || s == kExpDigits; }
}  // namespace

bool JsonPrefixState::EndValue() {
  if (stack_.empty()) {
    mode_ = kDone;
  } else {
    mode_ = kAfterValue;
  }
  return true;
}

bool JsonPrefixState::StartValue(char c) {
  if (object_only_ && stack_.empty() && c != '{') return false;
  switch (c) {
    case '{': stack_.push_back('{'); mode_ = kKeyOrEnd; return true;
    case '[': stack_.push_back('['); mode_ = kValue; value_or_end_ = true; return true;
    case '"': mode_ = kString; is_key_ = false; return true;
    case 't': lit_ = "true"; sub_ = 1; mode_ = kLiteral; return true;
    case 'f': lit_ = "false"; sub_ = 1; mode_ = kLiteral; return true;
    case 'n': lit_ = "null"; sub_ = 1; mode_ = kLiteral; return true;
    case '-': sub_ = kMinus; mode_ = kNumber; return true;
    case '0': sub_ = kZero; mode_ = kNumber; return true;
    default:
      if (IsDigit(c)) { sub_ = kInt; mode_ = kNumber; return true; }
      return false;
  }
}

bool JsonPrefixState::NumberChar(char c) {
  switch (sub_) {
    case kMinus: if (c == '0') { sub_ = kZero; return true; } if (IsDigit(c)) { sub_ = kInt; return true; } return false;
    case kZero: if (c == '.') { sub_ = kDot; return true; } if (c == 'e' || c == 'E') { sub_ = kExp; return true; } return false;
    case kInt: if (IsDigit(c)) return true; if (c == '.') { sub_ = kDot; return true; } if (c == 'e' || c == 'E') { sub_ = kExp; return true; } return false;
    case kDot: if (IsDigit(c)) { sub_ = kFrac; return true; } return false;
    case kFrac: if (IsDigit(c)) return true; if (c == 'e' || c == 'E') { sub_ = kExp; return true; } return false;
    case kExp: if (c == '+' || c == '-') { sub_ = kExpSign; return true; } if (IsDigit(c)) { sub_ = kExpDigits; return true; } return false;
    case kExpSign: if (IsDigit(c)) { sub_ = kExpDigits; return true; } return false;
    case kExpDigits: return IsDigit(c);
  }
  return false;
}

bool JsonPrefixState::Feed(char c) {
  const bool ws = IsWs(c);
  if (mode_ != kString && mode_ != kEscape && mode_ != kUnicode) {
    if (ws) {
      if (mode_ == kNumber) {
        if (!NumberCanEnd(sub_)) return false;
        EndValue();
      } else if (mode_ == kLiteral || mode_ == kDone) {
        return false;
      }
      return ++ws_ <= kMaxWhitespace;
    }
    ws_ = 0;
  }
  switch (mode_) {
    case kDone: return false;
    case kValue:
      if (value_or_end_ && c == ']') {
        value_or_end_ = false;
        stack_.pop_back();
        return EndValue();
      }
      value_or_end_ = false;
      return StartValue(c);
    case kKeyOrEnd:
      if (c == '}') { stack_.pop_back(); return EndValue(); }
      [[fallthrough]];
    case kKey:
      if (c != '"') return false;
      mode_ = kString;
      is_key_ = true;
      return true;
    case kString:
      if (c == '"') {
        if (is_key_) { mode_ = kColon; return true; }
        return EndValue();
      }
      if (c == '\\') { mode_ = kEscape; return true; }
      return static_cast<unsigned char>(c) >= 0x20;  // control characters must be escaped
    case kEscape:
      if (c == 'u') { mode_ = kUnicode; sub_ = 0; return true; }
      if (std::strchr("\"\\/bfnrt", c) == nullptr || c == 0) return false;
      mode_ = kString;
      return true;
    case kUnicode:
      if (!IsHex(c)) return false;
      if (++sub_ == 4) mode_ = kString;
      return true;
    case kColon:
      if (c != ':') return false;
      mode_ = kValue;
      return true;
    case kNumber:
      if (NumberChar(c)) return true;
      if (!NumberCanEnd(sub_)) return false;
      EndValue();
      return Feed(c);  // the character after the number: ',' or a closer
    case kLiteral:
      if (lit_[sub_] != c) return false;
      if (lit_[++sub_] == '\0') return EndValue();
      return true;
    case kAfterValue:
      if (c == ',') {
        mode_ = stack_.back() == '{' ? kKey : kValue;
        return true;
      }
      if ((c == '}' && stack_.back() == '{') || (c == ']' && stack_.back() == '[')) {
        stack_.pop_back();
        return EndValue();
      }
      return false;
  }
  return false;
}

std::shared_ptr<const VocabBytes> VocabBytes::Build(const Tokenizer& tok) {
  auto v = std::make_shared<VocabBytes>();
  v->bytes.resize(tok.vocab_size());
  for (size_t i = 0; i < tok.vocab_size(); ++i) {
    int32_t id = static_cast<int32_t>(i);
    if (!tok.IsSpecial(id)) v->bytes[i] = std::string(tok.TokenBytes(id));
  }
  return v;
}

bool JsonConstraint::IsEos(int32_t t) const { return std::find(eos_.begin(), eos_.end(), t) != eos_.end(); }

bool JsonConstraint::Allows(int32_t token) {
  if (IsEos(token)) return st_.complete();
  if (token < 0 || static_cast<size_t>(token) >= vocab_->bytes.size()) return false;
  const std::string& b = vocab_->bytes[static_cast<size_t>(token)];
  if (b.empty()) return false;
  JsonPrefixState s = st_;
  return s.Feed(b);
}

void JsonConstraint::Mask(std::vector<uint8_t>* allowed) {
  for (size_t i = 0; i < allowed->size(); ++i) (*allowed)[i] = (*allowed)[i] && Allows(static_cast<int32_t>(i));
}

void JsonConstraint::Accept(int32_t token) {
  if (IsEos(token) || token < 0 || static_cast<size_t>(token) >= vocab_->bytes.size()) return;
  st_.Feed(vocab_->bytes[static_cast<size_t>(token)]);
}

}  // namespace qs
