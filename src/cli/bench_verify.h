// qiusuo bench --verify-batch: what speculative decoding costs and gains on this machine
// (cmd_bench_verify.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qs::cli {

struct VerifyBenchOpts {
  std::string model, draft_model;
  std::vector<int64_t> batches{1, 2, 3, 4};  // rows per main-model forward (1 + drafts)
  int64_t depth = 512;                       // tokens in the cache before each forward
  int64_t depth_prefix = 0;                  // > 0: prefill this many and tile to depth
  int64_t project_layers = 0;                // > 0: project the timings to a model with this many layers
  int64_t n_gen = 0;                         // > 0: also generate this many tokens, plain and speculative
  int spec_tokens = 0;                       // drafts per step for that generation (0: the largest batch - 1)
  int threads = 0, repeats = 3;
  bool json = false;
};

int RunVerifyBench(const VerifyBenchOpts& o);

}  // namespace qs::cli
