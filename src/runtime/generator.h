// Drives a model over one sequence: prefill, then token-by-token decode through the KV cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/status.h"
#include "model/model.h"

namespace qs {

class ThreadPool;

class Generator {
 public:
  Generator(Model* model, ThreadPool* pool, int64_t max_tokens);
  // Feeds tokens; returns logits of the last one [vocab] (all positions in *all_logits if given).
  Status Feed(const std::vector<int32_t>& tokens, std::vector<float>* all_logits = nullptr);
  const std::vector<float>& last_logits() const { return last_; }
  int64_t position() const { return cache_->size(); }
  KvCache* cache() { return cache_.get(); }
  void Reset() { cache_->Clear(); }

  // Greedy decoding: appends up to n argmax tokens after the prompt already fed. Stops after
  // eos unless ignore_eos. `on_token` (optional) sees each token as it is produced.
  Result<std::vector<int32_t>> GreedyContinue(int64_t n, bool ignore_eos,
                                              const std::function<void(int32_t)>& on_token = nullptr);

 private:
  Model* model_;
  ThreadPool* pool_;
  std::unique_ptr<KvCache> cache_;
  std::vector<float> last_, buf_;
};

int32_t Argmax(const float* x, int64_t n);

}  // namespace qs
