// Tokenizer: encode / decode. Loading lives in tokenizer_load.cc.
#include "tokenizer/tokenizer.h"

#include <unordered_map>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer_index.h"

namespace qs {

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Status Tokenizer::EncodeOrdinary(std::string_view text, void* scratch_ptr, std::vector<int32_t>* out) const {
  auto* scratch = static_cast<tok::PreTokScratch*>(scratch_ptr);
  std::vector<std::string_view> pieces;
  std::vector<std::unique_ptr<std::string>> owned;
  QS_RETURN_IF_ERROR(pretok_->Split(text, scratch, &pieces, &owned));
  for (std::string_view p : pieces) bpe_->EncodeWord(p, out);
  return Status::Ok();
}

Result<std::vector<int32_t>> Tokenizer::Encode(std::string_view text, bool parse_special, bool add_bos) const {
  if (size_t valid = tok::ValidUtf8Prefix(text); valid != text.size())
    return InvalidArgument("tokenize: input is not valid UTF-8 (bad byte 0x" +
                           std::string(1, "0123456789abcdef"[static_cast<unsigned char>(text[valid]) >> 4]) +
                           std::string(1, "0123456789abcdef"[static_cast<unsigned char>(text[valid]) & 15]) +
                           " at offset " + std::to_string(valid) + ")");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  if (add_bos) ids.insert(ids.end(), prefix_ids_.begin(), prefix_ids_.end());
  tok::PreTokScratch scratch;
  std::string normalized;
  const tok::AddedTokenMatcher& raw = *raw_matcher_[parse_special ? 0 : 1];
  const tok::AddedTokenMatcher& norm = *norm_matcher_[parse_special ? 0 : 1];
  auto normalize_and_encode = [&](std::string_view part) -> Status {
    std::string_view view = part;
    if (!normalizer_->empty()) {
      if (!normalizer_->Apply(part, &normalized)) return Status(ErrorCode::kInternal, "tokenize: normalizer failed");
      view = normalized;
    }
    if (norm.empty()) return EncodeOrdinary(view, &scratch, &ids);
    std::vector<tok::TextSegment> segs;
    norm.Split(view, &segs);
    for (const auto& s : segs) {
      if (s.id >= 0) ids.push_back(s.id);
      else QS_RETURN_IF_ERROR(EncodeOrdinary(view.substr(s.begin, s.end - s.begin), &scratch, &ids));
    }
    return Status::Ok();
  };
  if (raw.empty()) {
    QS_RETURN_IF_ERROR(normalize_and_encode(text));
  } else {
    std::vector<tok::TextSegment> segs;
    raw.Split(text, &segs);
    for (const auto& s : segs) {
      if (s.id >= 0) ids.push_back(s.id);
      else QS_RETURN_IF_ERROR(normalize_and_encode(text.substr(s.begin, s.end - s.begin)));
    }
  }
  if (add_bos) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (int32_t id : ids) out += TokenBytes(id);
  return out;
}

std::string_view Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_bytes_.size()) return {};
  return id_to_bytes_[id];
}

std::string Tokenizer::TokenText(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return {};
  return id_to_token_[id];
}

bool Tokenizer::IsSpecial(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
}

int32_t Tokenizer::TokenId(std::string_view token) const {
  return index_->index.Find(token);
}

std::string StreamDecoder::Push(int32_t id) {
  pending_ += tok_.TokenBytes(id);
  size_t hold = tok::IncompleteUtf8Suffix(pending_);
  std::string out = tok::SanitizeUtf8(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out = tok::SanitizeUtf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace qs
