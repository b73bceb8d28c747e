// Byte-level BPE training (Sennrich et al. 2016 on GPT-2's byte alphabet): texts are cut by
// DeepSeek-V3's pre-tokenizer (digit runs of up to 3, CJK runs, the word/punctuation regex;
// run through the project's own PreTokenizer so training and encoding cut identically), every
// piece starts as its bytes, and the most frequent adjacent pair is merged until the vocabulary
// is full (ties: the pair whose merged string is smallest, so the result is deterministic).
// Written as a Hugging Face tokenizer.json (BPE model, ByteLevel decoder, DeepSeek's special
// tokens first) and tokenizer_config.json with a DeepSeek-style chat template.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace qs::train {

struct BpeOptions {
  int64_t vocab_size = 8192;  // special tokens included
  int64_t min_frequency = 2;  // a pair seen fewer times is never merged
};

struct BpeResult {
  std::vector<std::string> vocab;   // byte-level strings by id (after the special tokens)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

// The special tokens, ids 0..n-1: BOS, EOS, pad, then the chat markers.
const std::vector<std::string>& SpecialTokens();

Result<BpeResult> TrainBpe(const std::vector<std::string>& texts, const BpeOptions& o);
// Writes dir/tokenizer.json and dir/tokenizer_config.json.
Status WriteTokenizer(const BpeResult& r, const std::string& dir);

}  // namespace qs::train
