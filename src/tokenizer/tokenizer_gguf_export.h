// tokenizer.json (+ tokenizer_config.json, config.json) -> the tokenizer.ggml.* metadata that
// llama.cpp's convert_hf_to_gguf.py writes for byte-level BPE ("gpt2") tokenizers, key for key:
// model, pre, tokens (padded to the model's vocab_size with "[PAD<id>]"), token_type, merges,
// bos/eos/unk/sep/padding ids, add_bos_token / add_eos_token, and tokenizer.chat_template.
// tokenizer/tokenizer_load.cc (Tokenizer::FromGguf) reads these keys back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace qs {

class GgufWriter;

// llama.cpp's token types (gguf-py TokenType / llama_token_type).
enum class GgufTokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

// `dir` holds tokenizer.json, optionally tokenizer_config.json and config.json (its vocab_size
// pads the token list, as the converter does; its *_token_id keys fill ids the tokenizer files
// leave unset).
Status WriteTokenizerGgufMetadata(const std::string& dir, GgufWriter* w);

// The same from texts (empty config texts: absent). `name` is used in error messages.
Status WriteTokenizerGgufMetadataFromText(std::string_view tokenizer_json, std::string_view tokenizer_config,
                                          std::string_view model_config, const std::string& name, GgufWriter* w);

// llama.cpp's pre-tokenizer name for a tokenizer.json pre_tokenizer (the converter identifies it
// by hashing a test encoding; we recognise the split regexes of the supported families).
// `split_regexes`: the pre_tokenizer's Split regexes in order, joined by '\n'. Returns
// "deepseek-v3", "deepseek-llm", "deepseek-coder", "qwen2", "deepseek-r1-qwen" (qwen2 splits +
// BOS added), "llama-bpe", "gpt-2" (ByteLevel's own regex), or "" when unrecognised.
std::string GgufPreTokenizerName(const std::string& split_regexes, bool byte_level_regex, bool adds_bos);

}  // namespace qs
