// Blocks: the parts a decoder layer is composed of (attention kinds, feed-forward kinds). Each
// block is built for one layer from the config, lists its tensors through one walk
// (model/tensors.h), loads them, describes the cache rows it keeps per token, and runs a batched
// forward over rows that may belong to several sequences (continuous batching). The transformer
// (model/transformer.cc) only composes blocks; which blocks a layer gets is decided by the
// architecture spec (model/arch/arch.h), so shared code never branches on an attention kind.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "model/kv_cache.h"
#include "model/tensors.h"

namespace qs {

class ThreadPool;
class WeightSource;

// Scratch shared by all layers of one model (buffers grow with the batch; one set per model,
// not per layer: a V3 prefill's MoE buffers alone are ~100 MB). Each block kind keeps its own
// scratch type, created on first use.
class Workspace {
 public:
  template <class T>
  T& Get() {
    auto& p = slots_[std::type_index(typeid(T))];
    if (!p) p = std::shared_ptr<void>(new T(), [](void* q) { delete static_cast<T*>(q); });
    return *static_cast<T*>(p.get());
  }

 private:
  std::unordered_map<std::type_index, std::shared_ptr<void>> slots_;
};

// The rows of one batched forward: row t belongs to caches[t] at position positions[t].
struct BatchRows {
  const std::vector<AttnSegment>* segs = nullptr;
  std::vector<KvCache*> caches;
  std::vector<int64_t> positions;
  int64_t T() const { return static_cast<int64_t>(positions.size()); }
};

// Per-token cache widths (floats) a layer's attention keeps (model/kv_cache.h).
struct CacheLayout {
  int64_t k_width = 0, v_width = 0, aux_width = 0;
};

// Optional per-layer record for conformance tests (model.h ForwardTrace).
struct LayerTrace {
  std::vector<int32_t>* experts = nullptr;        // appended: [T, k] routed experts, best first
  std::vector<float>* expert_weights = nullptr;   // appended: [T, k]
  std::vector<int32_t>* selected = nullptr;       // appended: [T, topk] sparse-attention picks, -1 padded
  std::vector<float>* index_scores = nullptr;     // appended: [T, S] index scores (S = the longest sequence)
};

class Block {
 public:
  virtual ~Block() = default;
  // Every tensor the block holds, under its full HF name, with the config's shapes.
  virtual void VisitTensors(TensorVisitor& v) = 0;
  // Binds the tensors from `src` (default: the walk above), then derives what the forward needs.
  virtual Status Load(WeightSource& src);
  // Runs after the walk: weights derived at load time (e.g. MLA's W_UK^T).
  virtual Status Finish(WeightSource& src) { return Status::Ok(); }
};

class AttentionBlock : public Block {
 public:
  virtual CacheLayout cache_layout() const = 0;
  // x: [T, hidden] (input_layernorm-ed). Appends each row's cache entries at its position in
  // cache layer `layer` and writes the attention output [T, hidden] into `out`.
  virtual void Forward(const float* x, const BatchRows& rows, int64_t layer, float* out, Workspace& ws,
                       ThreadPool* pool, const LayerTrace* trace) = 0;
};

class FfnBlock : public Block {
 public:
  // x: [T, hidden] (post_attention_layernorm-ed) -> out [T, hidden].
  virtual void Forward(const float* x, int64_t T, float* out, Workspace& ws, ThreadPool* pool,
                       const LayerTrace* trace) = 0;
  // Routed experts per token (0 for a dense FFN): ForwardTrace's row width.
  virtual int64_t routed_per_token() const { return 0; }
};

// Binds every tensor a walk names from a WeightSource, keeping the first error.
class LoadVisitor final : public TensorVisitor {
 public:
  explicit LoadVisitor(WeightSource& src) : src_(src) {}
  void Matrix(const std::string& name, WeightMatrix* w, int64_t rows, int64_t cols, TensorRole role,
              bool routed_expert) override;
  void Matrix3D(const std::string& name, WeightMatrix* w, int64_t n, int64_t rows, int64_t cols) override;
  void Vector(const std::string& name, std::vector<float>* v, int64_t n, TensorRole role) override;
  const Status& status() const { return st_; }

 private:
  WeightSource& src_;
  Status st_;
};

}  // namespace qs
