// Where a model's tensors come from — a Hugging Face safetensors checkpoint or a llama.cpp GGUF
// file — and the checked accessors the architectures use to pull weights out of it.
//
// Architectures always ask by Hugging Face name and [out, in] shape. A GGUF source renames its
// tensors through model/gguf_names.h and splits stacked expert tensors (ffn_*_exps, expert
// dimension outermost) into per-expert views, so no architecture code knows about file formats.
// Every accessor verifies the shape against the config and names the file and tensor when
// something disagrees. Nothing is copied: views point into the memory-mapped files.
#pragma once

#include <deque>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "kernels/matmul.h"
#include "model/config.h"

namespace qs {

// One tensor as the architectures see it.
struct WeightTensor {
  std::string name;        // HF name (GGUF-only tensors keep their GGUF name)
  std::string file;        // for messages
  std::string file_name;   // the tensor's name inside the file (GGUF name, + "[expert e]")
  DType dtype = DType::kUnknown;
  GgmlType qtype = GgmlType::F32;  // when dtype == kGgmlBlock
  Shape shape;             // row-major ([out, in] for matrices)
  const uint8_t* data = nullptr;
  size_t nbytes = 0;
  int64_t numel() const { return NumElements(shape); }
};

class WeightSource {
 public:
  WeightSource(std::unique_ptr<Checkpoint> ck, const ModelConfig& cfg);
  static Result<std::unique_ptr<WeightSource>> FromGguf(std::unique_ptr<GgufFile> gguf, const ModelConfig& cfg);

  bool Has(const std::string& name) const { return index_.count(name) != 0; }
  // The tensor under that (HF) name, or null. Does not mark it used.
  const WeightTensor* Find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  // A 2-D weight [rows, cols] (HF layout [out, in]); FP8 weights bring their `_scale_inv`.
  Result<WeightMatrix> Matrix(const std::string& name, int64_t rows, int64_t cols);
  // A stacked 3-D weight [n, rows, cols] as one [n * rows, cols] matrix (GGUF attn_k_b / attn_v_b).
  Result<WeightMatrix> Matrix3D(const std::string& name, int64_t n, int64_t rows, int64_t cols);
  // An integer table [rows, cols] (I64 or I32), e.g. DeepSeek-V4's hash-routing tid2eid.
  Result<std::vector<int64_t>> Ints(const std::string& name, int64_t rows, int64_t cols);
  // A 1-D vector of n values widened to fp32 (norm weights, biases).
  Result<std::vector<float>> Vector(const std::string& name, int64_t n);
  // Tensors that no accessor asked for (reported by the loader; MTP layers are expected here).
  std::vector<std::string> Unused() const;
  // "<file>: tensor '<name in file>'" for messages.
  std::string Where(const std::string& name) const;
  const std::vector<WeightTensor>& tensors() const { return tensors_; }
  bool is_gguf() const { return gguf_ != nullptr; }
  const GgufFile* gguf() const { return gguf_.get(); }
  void MarkUsed(const std::string& name) { used_.insert(name); }

 private:
  WeightSource(const ModelConfig& cfg) : cfg_(cfg) {}
  void Add(WeightTensor t);
  Result<const WeightTensor*> Get(const std::string& name);
  Result<const float*> BlockScales(const WeightTensor& t, int64_t sr, int64_t sc, const std::string& blocks);
  Result<WeightMatrix> MatrixOf(const WeightTensor& t, int64_t rows, int64_t cols, const std::string& what);
  const char* origin() const { return gguf_ ? "the GGUF metadata" : "config.json"; }

  std::unique_ptr<Checkpoint> ck_;
  std::unique_ptr<GgufFile> gguf_;
  ModelConfig cfg_;
  std::vector<WeightTensor> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::set<std::string> used_;
  std::deque<std::vector<float>> owned_scales_;  // F8_E8M0 scales widened to F32 (stable addresses)
};

}  // namespace qs
