// Training text to tokens: a JSONL file, one {"text": "..."} object per line (the chat examples
// already rendered through the chat template, special tokens written out), encoded with special
// tokens parsed and concatenated in file order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"
#include "tokenizer/tokenizer.h"

namespace qs::train {

// The "text" field of every non-empty line; errors name the file and line.
Result<std::vector<std::string>> ReadJsonlTexts(const std::string& path);
Result<std::vector<int32_t>> TokenizeTexts(const Tokenizer& tok, const std::vector<std::string>& texts,
                                           ThreadPool* pool);

}  // namespace qs::train
