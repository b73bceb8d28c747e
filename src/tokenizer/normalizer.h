// Text normalizers from tokenizer.json (`normalizer`), implemented with utf8proc.
//
// Byte-level BPE models mostly have none (DeepSeek: an empty Sequence) or Unicode NFC (Qwen).
// Supported: null, Sequence, NFC, NFD, NFKC, NFKD. Anything else is rejected at load time with the
// type named, rather than silently tokenizing differently from Hugging Face.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace qs::tok {

class Normalizer {
 public:
  enum class Form { kNFC, kNFD, kNFKC, kNFKD };

  // `j` is the "normalizer" value (may be null); `where` names the file for errors.
  static Result<Normalizer> FromJson(const nlohmann::json& j, const std::string& where);
  static Normalizer Of(std::vector<Form> forms) {
    Normalizer n;
    n.forms_ = std::move(forms);
    return n;
  }

  bool empty() const { return forms_.empty(); }
  // Applies every step to valid UTF-8 `text`. Returns false only if utf8proc fails (out of memory).
  bool Apply(std::string_view text, std::string* out) const;

 private:
  std::vector<Form> forms_;
};

}  // namespace qs::tok
