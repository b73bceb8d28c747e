// One walk over a model's tensors (gemma.cpp's ForEachTensor): every block lists the tensors it
// holds for a config through a TensorVisitor, and that single list serves loading (weights bound
// from a WeightSource), `synth` and the GGUF plan (declarations with shapes and roles), `info`
// (parameter counts) and repacking (the matrices the kernels stream). No tensor list is written
// twice.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace qs {

struct WeightMatrix;

// What a tensor is for: decides how `synth` draws it, whether FP8 may store it, and how `info`
// counts it.
enum class TensorRole {
  kLinear,   // a projection: N(0,1)/sqrt(fan_in); stored FP8 in FP8 releases
  kRouter,   // a MoE gate: never FP8 (mlp.gate.weight stays bf16 in the releases)
  kPlain,    // a projection never stored FP8 (MTP eh_proj, V3.2 indexer weights_proj)
  kEmbed,    // N(0,1)
  kHead,     // 1.5 N(0,1)/sqrt(hidden)
  kNorm,     // norm weight: 1 + 0.1 N(0,1)
  kBias,     // small additive vector: 0.05 N(0,1), kept F32 (biases, routing correction bias)
  kNormBias, // LayerNorm bias: 0.1 N(0,1), stored like the norm weight
  kMixer,     // a small projection kept F32 (DeepSeek-V4's mHC hc_*_fn): N(0,1)/sqrt(fan_in)
  kExpertIds,  // an integer table [rows, k] of distinct expert ids (DeepSeek-V4 hash routing's tid2eid), I64
};

struct TensorDecl {
  std::string name;  // Hugging Face name
  Shape shape;       // [out, in] for matrices, [n] for vectors, [n, out, in] stacked
  TensorRole role = TensorRole::kLinear;
  bool routed_expert = false;  // runs for k of n_routed_experts tokens' choices (info's active count)
};

// Blocks call these for every tensor they hold, in a fixed order. A visitor either records the
// declaration or binds the pointer (load / pack); pointers may be null when only declaring.
class TensorVisitor {
 public:
  virtual ~TensorVisitor() = default;
  virtual void Matrix(const std::string& name, WeightMatrix* w, int64_t rows, int64_t cols, TensorRole role,
                      bool routed_expert = false) = 0;
  // n stacked [rows, cols] matrices stored as one tensor [n, rows, cols] (GGUF attn_k_b / attn_v_b).
  virtual void Matrix3D(const std::string& name, WeightMatrix* w, int64_t n, int64_t rows, int64_t cols) = 0;
  virtual void Vector(const std::string& name, std::vector<float>* v, int64_t n, TensorRole role) = 0;
};

// Records declarations only.
class DeclareVisitor final : public TensorVisitor {
 public:
  explicit DeclareVisitor(std::vector<TensorDecl>* out) : out_(out) {}
  void Matrix(const std::string& name, WeightMatrix*, int64_t rows, int64_t cols, TensorRole role,
              bool routed_expert) override {
    out_->push_back({name, {rows, cols}, role, routed_expert});
  }
  void Matrix3D(const std::string& name, WeightMatrix*, int64_t n, int64_t rows, int64_t cols) override {
    out_->push_back({name, {n, rows, cols}, TensorRole::kLinear, false});
  }
  void Vector(const std::string& name, std::vector<float>*, int64_t n, TensorRole role) override {
    out_->push_back({name, {n}, role, false});
  }

 private:
  std::vector<TensorDecl>* out_;
};

// Collects every matrix a forward pass multiplies with (repacking, kernels/pack.h).
class MatrixCollector final : public TensorVisitor {
 public:
  explicit MatrixCollector(std::vector<WeightMatrix*>* out) : out_(out) {}
  void Matrix(const std::string&, WeightMatrix* w, int64_t, int64_t, TensorRole role, bool) override {
    if (w && role != TensorRole::kEmbed) out_->push_back(w);
  }
  void Matrix3D(const std::string&, WeightMatrix* w, int64_t, int64_t, int64_t) override {
    if (w) out_->push_back(w);
  }
  void Vector(const std::string&, std::vector<float>*, int64_t, TensorRole) override {}

 private:
  std::vector<WeightMatrix*>* out_;
};

}  // namespace qs
