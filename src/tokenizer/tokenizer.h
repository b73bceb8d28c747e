// Byte-level BPE tokenizer, id-exact with Hugging Face `tokenizers` for DeepSeek / Qwen / Llama-3 /
// GPT-2 style models.
//
// Sources: a model directory (tokenizer.json + tokenizer_config.json), a tokenizer.json path (its
// sibling tokenizer_config.json is read when present), or a GGUF file (tokenizer.ggml.* metadata).
//
// Encode pipeline (HF order): [added tokens with normalized=false found in the raw text] ->
// normalizer (e.g. NFC) on the text between them -> [added tokens with normalized=true] ->
// pre-tokenizer regex splits -> BPE per piece -> BOS/EOS as configured.
//
// Thread safety: a loaded Tokenizer is immutable apart from its internal word cache, which is
// locked; Encode/Decode may be called from many threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace qs {

class GgufFile;

namespace tok {
class BpeModel;
class Normalizer;
class PreTokenizer;
class AddedTokenMatcher;
struct AddedToken;
}  // namespace tok

class Tokenizer {
 public:
  // `path`: a directory holding tokenizer.json, a tokenizer.json file, or a .gguf file.
  static Result<std::unique_ptr<Tokenizer>> Load(const std::string& path);
  // From the texts of tokenizer.json and tokenizer_config.json (empty: none). `name` is used in
  // error messages.
  static Result<std::unique_ptr<Tokenizer>> FromJsonText(std::string_view tokenizer_json,
                                                         std::string_view tokenizer_config,
                                                         const std::string& name);
  // From the tokenizer.ggml.* metadata of an opened GGUF file.
  static Result<std::unique_ptr<Tokenizer>> FromGguf(const GgufFile& gguf);
  ~Tokenizer();

  // `text` must be valid UTF-8 (else an error names the byte offset). parse_special: added /
  // special tokens written in the text become their ids (HF's default); false: special tokens and
  // markup-like added tokens ("<...>", "[...]", e.g. "<｜User｜>", "<think>") are tokenized like any
  // other text, so user text cannot inject them. Plain-text added tokens (not special, not markup:
  // DeepSeek-LLM/Coder's byte tokens "ü", "õ", ...) are vocabulary extensions and are matched in
  // both modes, as Hugging Face and llama.cpp do. add_bos: add what the model's config asks for (BOS when
  // add_bos_token, EOS when add_eos_token; HF's add_special_tokens=True) -- nothing for a model
  // that asks for nothing (Qwen).
  Result<std::vector<int32_t>> Encode(std::string_view text, bool parse_special, bool add_bos) const;

  // Concatenated bytes of the tokens (ByteLevel decoding; special tokens as their text). May be
  // invalid UTF-8 if `ids` ends mid-character; ids outside the vocabulary are skipped.
  std::string Decode(const std::vector<int32_t>& ids) const;
  // Decoded bytes of one token ("" for an unknown id).
  std::string_view TokenBytes(int32_t id) const;
  // The vocabulary string of a token (byte-level form, e.g. "Ġhello"; added tokens as written).
  std::string TokenText(int32_t id) const;
  // Id of a vocabulary string / added token content; -1 if none.
  int32_t TokenId(std::string_view token) const;
  // True for special added tokens (tokenizer.json special: true; GGUF control tokens).
  bool IsSpecial(int32_t id) const;

  size_t vocab_size() const { return id_to_token_.size(); }  // 1 + the largest id
  int32_t bos_id() const { return bos_id_; }                 // -1 when the model has none
  int32_t eos_id() const { return eos_id_; }
  std::string bos_token() const { return bos_id_ >= 0 ? TokenText(bos_id_) : ""; }
  std::string eos_token() const { return eos_id_ >= 0 ? TokenText(eos_id_) : ""; }
  bool add_bos_token() const { return !prefix_ids_.empty(); }
  // tokenizer_config.json "chat_template" (the "default" one of a list) or GGUF
  // tokenizer.chat_template.
  std::optional<std::string> chat_template() const { return chat_template_; }
  const std::string& source() const { return source_; }

 private:
  friend class TokenizerBuilder;
  Tokenizer();
  Status EncodeOrdinary(std::string_view text, void* scratch, std::vector<int32_t>* out) const;

  std::string source_;
  std::vector<std::string> id_to_token_;   // vocabulary strings ("" for holes)
  std::vector<std::string> id_to_bytes_;   // decoded bytes
  std::vector<char> special_;              // per id
  std::unique_ptr<tok::BpeModel> bpe_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pretok_;
  std::vector<std::unique_ptr<tok::AddedToken>> added_;
  // Added-token matchers: [0] every added token (parse_special), [1] only plain-text ones (see
  // Encode). raw_: normalized == false, searched before the normalizer; norm_: searched after it.
  std::unique_ptr<tok::AddedTokenMatcher> raw_matcher_[2];
  std::unique_ptr<tok::AddedTokenMatcher> norm_matcher_[2];
  std::vector<int32_t> prefix_ids_, suffix_ids_;
  int32_t bos_id_ = -1, eos_id_ = -1;
  std::optional<std::string> chat_template_;
  struct TokenIndex;
  std::unique_ptr<TokenIndex> index_;  // string -> id
};

// Incremental detokenization for streaming output: Push returns the text that is complete so far,
// holding back the bytes of a UTF-8 character split across tokens; ill-formed bytes come out as
// U+FFFD. The concatenation of all Push results and Flush equals the lossy UTF-8 decoding of
// Decode(all ids).
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok) : tok_(tok) {}
  std::string Push(int32_t id);
  // Everything still held back (an unfinished character becomes U+FFFD); resets the decoder.
  std::string Flush();

 private:
  const Tokenizer& tok_;
  std::string pending_;
};

}  // namespace qs
