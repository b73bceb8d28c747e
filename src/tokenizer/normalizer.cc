#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

namespace qs::tok {
namespace {

Status Collect(const nlohmann::json& j, const std::string& where, std::vector<Normalizer::Form>* out) {
  if (j.is_null()) return Status::Ok();
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    return InvalidArgument(where + ": normalizer: expected an object with a string \"type\"");
  const std::string type = j["type"].get<std::string>();
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array())
      return InvalidArgument(where + ": normalizer Sequence: missing array \"normalizers\"");
    for (const auto& n : j["normalizers"]) QS_RETURN_IF_ERROR(Collect(n, where, out));
    return Status::Ok();
  }
  if (type == "NFC") out->push_back(Normalizer::Form::kNFC);
  else if (type == "NFD") out->push_back(Normalizer::Form::kNFD);
  else if (type == "NFKC") out->push_back(Normalizer::Form::kNFKC);
  else if (type == "NFKD") out->push_back(Normalizer::Form::kNFKD);
  else return Unsupported(where + ": normalizer type \"" + type + "\" is not supported (NFC/NFD/NFKC/NFKD/Sequence are)");
  return Status::Ok();
}

// True when `text` is certainly unchanged by `form`, checked cheaply on the bytes.
bool Unchanged(std::string_view text, Normalizer::Form form) {
  // Every code point below U+0300 is NFC-stable and combines with nothing before it (combining marks
  // start at U+0300), and a UTF-8 lead byte >= 0xCC is exactly a code point >= U+0300.
  // The other forms decompose Latin-1 letters, so only pure ASCII is safe for them.
  const uint8_t limit = form == Normalizer::Form::kNFC ? 0xCC : 0x80;
  for (unsigned char c : text)
    if (c >= limit) return false;
  return true;
}

}  // namespace

Result<Normalizer> Normalizer::FromJson(const nlohmann::json& j, const std::string& where) {
  Normalizer n;
  QS_RETURN_IF_ERROR(Collect(j, where, &n.forms_));
  return n;
}

bool Normalizer::Apply(std::string_view text, std::string* out) const {
  out->assign(text);
  for (Form f : forms_) {
    if (Unchanged(*out, f)) continue;
    int opts = UTF8PROC_STABLE;
    switch (f) {
      case Form::kNFC: opts |= UTF8PROC_COMPOSE; break;
      case Form::kNFD: opts |= UTF8PROC_DECOMPOSE; break;
      case Form::kNFKC: opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
      case Form::kNFKD: opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    utf8proc_uint8_t* res = nullptr;
    // Explicit length (no UTF8PROC_NULLTERM), so embedded NUL bytes are ordinary characters.
    utf8proc_ssize_t len = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(out->data()),
                                        static_cast<utf8proc_ssize_t>(out->size()), &res,
                                        static_cast<utf8proc_option_t>(opts));
    if (len < 0) return false;
    out->assign(reinterpret_cast<const char*>(res), static_cast<size_t>(len));
    std::free(res);
  }
  return true;
}

}  // namespace qs::tok
