// The model interface every architecture implements, and the loader that picks one from the
// architecture specs (model/arch/arch.h) by config.json's `architectures`.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "model/kv_cache.h"

namespace qs {

class ThreadPool;

// Optional record of intermediate values, for conformance tests against the reference.
struct ForwardTrace {
  bool record_hidden = false;
  std::vector<float> hidden;          // [n_layers + 1, T, hidden]: embeddings, then after each layer
  std::vector<int32_t> experts;       // [n_moe_layers, T, k] selected experts, best first
  std::vector<float> expert_weights;  // [n_moe_layers, T, k]
  std::vector<int> moe_layers;        // layer index of each experts row
  // Sparse attention (V3.2's indexer), for layers that select keys: [n_layers, T, topk] picked
  // positions (ascending, -1 padded) and, when record_index_scores, [n_layers, T, S] scores
  // (S = positions visible to the last row; -inf where not visible).
  std::vector<int32_t> selected;
  bool record_index_scores = false;
  std::vector<float> index_scores;
  // The main model's final-norm output [T, hidden] (the lm_head input), which is the hidden state
  // the MTP module consumes (Model::ForwardMtp; fixtures/deepseek-mtp-golden/README.md point 2).
  bool record_final_hidden = false;
  std::vector<float> final_hidden;
};

struct ModelInfo {
  std::string architecture;
  std::string format;            // "safetensors" (HF directory) or "gguf"
  uint64_t n_params = 0;         // all weights in the forward pass (MTP excluded)
  uint64_t n_params_active = 0;  // used per token (routed experts: only the k selected)
  uint64_t n_params_mtp = 0;     // MTP layers (not in n_params: they only draft)
  int64_t mtp_modules = 0;       // num_nextn_predict_layers of the config
  int64_t mtp_loaded = 0;        // of which loaded (speculative decoding available when > 0)
  uint64_t weight_bytes = 0;     // as stored
  std::vector<std::pair<std::string, uint64_t>> dtype_params;  // dtype -> parameter count
  uint64_t kv_bytes_per_token = 0;
  uint64_t kv_bytes_fixed = 0;   // a cache part that does not grow with the context (a ring of recent positions)
  std::string kv_cache_layout;   // how the cache is kept, when the model says (info prints it)
  std::string chat_family;       // the architecture spec's default chat protocol family
};

// One sequence's share of a batched forward: n tokens appended to its own cache.
struct SeqChunk {
  const int32_t* tokens = nullptr;
  int64_t n = 0;
  KvCache* cache = nullptr;
  float* logits = nullptr;  // null: none; else [n, vocab], or [vocab] (the last token) if last_only
  bool last_only = false;
  // null: none; else the final-norm output (the lm_head input) of all n rows [n, hidden], which
  // the MTP module drafts from (speculative decoding, runtime/speculative.h).
  float* hidden = nullptr;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelConfig& config() const = 0;
  virtual ModelInfo Info() const = 0;
  virtual std::unique_ptr<KvCache> NewCache(int64_t max_tokens) const = 0;
  // Runs tokens[0..T) at positions cache.size() .. cache.size()+T-1, appends them to the cache
  // and writes logits [T, vocab] (all positions) if `logits` is non-null.
  virtual Status Forward(const int32_t* tokens, int64_t T, KvCache* cache, float* logits,
                         ThreadPool* pool, ForwardTrace* trace = nullptr) = 0;
  // Several sequences in one pass (continuous batching): their tokens share every weight read
  // (projections, FFN, experts, lm_head) while attention reads each sequence's own cache.
  // Results equal separate Forward calls.
  virtual Status ForwardBatch(const std::vector<SeqChunk>& chunks, ThreadPool* pool) = 0;
  // One-time work before the first forward: repacking weights into the layout the active
  // kernels stream (kernels/pack.h). Forward does it itself when it was not called; callers that
  // time loading (bench) or want it out of the first request's latency call it after LoadModel.
  virtual Status Prepare(ThreadPool* pool) = 0;

  // Multi-token prediction (DeepSeek-V3 report §2.2; the release's model.layers.{num_hidden_layers}),
  // the draft model of speculative decoding. Row i of the MTP takes the main model's final-norm
  // output h_i (ForwardTrace::final_hidden) and the token t_{i+1}, runs one decoder layer with its
  // own cache (NewMtpCache) at position i, and predicts t_{i+2}. Semantics and the mistakes they
  // avoid: fixtures/deepseek-mtp-golden/README.md.
  // Modules loaded (0: the checkpoint has none, or the architecture does not use them).
  virtual int64_t mtp_modules() const { return 0; }
  virtual std::unique_ptr<KvCache> NewMtpCache(int64_t max_tokens) const { return nullptr; }
  // Runs MTP rows mtp_cache.size() .. +T-1: hidden [T, hidden] are h_i of those positions, next_tokens
  // [T] the tokens one position later; appends the rows to mtp_cache and writes logits [T, vocab]
  // (row i predicts the token two positions after h_i's). trace: the MTP layer's experts, and with
  // record_hidden [2, T, hidden]: eh_proj's output, then the decoder layer's output.
  // last_only: logits [vocab] of the last row only (a drafter needs no more; the head is the
  // largest matrix of the module).
  virtual Status ForwardMtp(const float* hidden, const int32_t* next_tokens, int64_t T, KvCache* mtp_cache,
                            float* logits, ThreadPool* pool, ForwardTrace* trace = nullptr, bool last_only = false) {
    return Unsupported("this model has no multi-token prediction module loaded");
  }
};

// Loads a model directory (config.json + safetensors). Checks every tensor's shape.
Result<std::unique_ptr<Model>> LoadModel(const std::string& path);
class GgufFile;
// The same for a GGUF file the caller has already opened (e.g. to validate it first).
Result<std::unique_ptr<Model>> LoadModel(std::unique_ptr<GgufFile> gguf);

}  // namespace qs
