// Fuzz target: the tokenizer on arbitrary bytes. The first byte picks what the rest is:
//   0: a tokenizer.json text (loader robustness; a loaded tokenizer then encodes a sample);
//   1: a GGUF image (tokenizer.ggml.* loader);
//   other: text for a built-in byte-level BPE (DeepSeek-V3 style pre-tokenizer, added tokens with
//          lstrip / rstrip / single_word). Invariants: invalid UTF-8 is an error, never a crash;
//          valid text encodes, decodes back exactly, and streams back like the lossy decode.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "io/gguf.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/tokenizer.h"

namespace {

const qs::Tokenizer& Builtin() {
  static const std::unique_ptr<qs::Tokenizer> tok = [] {
    using nlohmann::json;
    json vocab = json::object();
    for (int b = 0; b < 256; ++b) vocab[qs::tok::ByteLevelEncode(std::string(1, static_cast<char>(b)))] = b;
    json merges = json::array();
    int next = 256;
    for (const char* m : {"t h", "h e", "th e", "i n", "Ġ t", "Ġt he", "e r", "ä ¸", "å ľ"}) {
      std::string s = m;
      merges.push_back(s);
      vocab[s.substr(0, s.find(' ')) + s.substr(s.find(' ') + 1)] = next++;
    }
    json pre = json::array();
    for (const char* re : {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
                           "[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"})
      pre.push_back({{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}});
    pre.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}});
    json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
              {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pre}}},
              {"decoder", {{"type", "ByteLevel"}}},
              {"added_tokens",
               {{{"id", 300}, {"content", "<|s|>"}, {"special", true}, {"normalized", false}},
                {{"id", 301}, {"content", "<｜User｜>"}, {"special", false}, {"normalized", true}},
                {{"id", 302}, {"content", "ü"}, {"special", false}, {"normalized", true}},
                {{"id", 303}, {"content", "[L]"}, {"special", true}, {"lstrip", true}, {"rstrip", true}},
                {{"id", 304}, {"content", "[W]"}, {"special", true}, {"single_word", true}}}}};
    auto r = qs::Tokenizer::FromJsonText(j.dump(), R"({"add_bos_token": true, "bos_token": "<|s|>"})", "builtin");
    if (!r.ok()) {
      std::fprintf(stderr, "builtin tokenizer: %s\n", r.status().message().c_str());
      __builtin_trap();
    }
    return std::move(r).value();
  }();
  return *tok;
}

void Exercise(const qs::Tokenizer& t, std::string_view text) {
  for (int mode = 0; mode < 4; ++mode) {
    auto ids = t.Encode(text, mode & 1, mode & 2);
    if (!ids.ok()) continue;
    for (int32_t id : ids.value())
      if (id < 0 || static_cast<size_t>(id) >= t.vocab_size()) __builtin_trap();
    (void)t.Decode(ids.value());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] == 0) {
    auto t = qs::Tokenizer::FromJsonText(rest, "", "fuzz.json");
    if (t.ok()) Exercise(**t, "Hello 世界 123 <|s|>");
    return 0;
  }
  if (data[0] == 1) {
    auto g = qs::GgufFile::Parse(data + 1, size - 1, "fuzz.gguf");
    if (!g.ok()) return 0;
    auto t = qs::Tokenizer::FromGguf(**g);
    if (t.ok()) Exercise(**t, "Hello 世界 123");
    return 0;
  }
  const qs::Tokenizer& t = Builtin();
  const bool special = data[0] & 1, bos = data[0] & 2;
  auto ids = t.Encode(rest, special, bos);
  if (ids.ok() != qs::tok::IsValidUtf8(rest)) __builtin_trap();  // errors exactly for bad UTF-8
  if (!ids.ok()) return 0;
  std::string decoded = t.Decode(ids.value());
  if (bos) {  // BOS comes out as its text
    if (decoded.compare(0, 5, "<|s|>") != 0) __builtin_trap();
    decoded.erase(0, 5);
  }
  // Byte-level BPE without a normalizer is lossless, added tokens included. (lstrip / rstrip
  // swallow whitespace, so only check when no [L] can match.)
  if (!(special && rest.find("[L]") != std::string_view::npos) && decoded != rest) __builtin_trap();
  qs::StreamDecoder sd(t);
  std::string streamed;
  for (int32_t id : ids.value()) {
    std::string piece = sd.Push(id);
    if (!qs::tok::IsValidUtf8(piece)) __builtin_trap();
    streamed += piece;
  }
  streamed += sd.Flush();
  if (streamed != qs::tok::SanitizeUtf8(t.Decode(ids.value()))) __builtin_trap();
  return 0;
}
