// ModelConfig -> llama.cpp GGUF: the metadata keys, the tensor plan (names, shapes, types) and the
// quantization mixes, as convert_hf_to_gguf.py + llama-quantize (llama.cpp b4747,
// src/llama-quant.cpp llama_tensor_get_type) would produce them.
//
// The inverse of model/gguf_config (ConfigFromGguf): every key written here is one it reads, so
// ConfigFromGguf(WriteGgufConfigMetadata(c)) reproduces c (tests/quantize checks this).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"
#include "tensor/ggml_type.h"

namespace qs {

class GgufWriter;

// A `--type` of `qiusuo quantize`: llama.cpp's llama_ftype (written as general.file_type) and the
// ggml type most matrices get.
struct GgufFileType {
  const char* name;     // "q4_k_m"
  int32_t llama_ftype;  // LLAMA_FTYPE_MOSTLY_Q4_K_M = 15
  GgmlType base;        // Q4_K
  bool quantized;       // llama-quantize rules (mixes, output tensor) apply; else converter rules
};
Result<GgufFileType> ParseGgufFileType(const std::string& name);
// "f32, f16, bf16, q8_0, ..." for help texts.
std::string GgufFileTypeNames();

// One tensor of the output file.
struct GgufPlanEntry {
  enum class Kind { kWeight, kRopeFreqs };
  std::string name;          // GGUF name, e.g. blk.3.ffn_up_exps.weight
  std::vector<int64_t> ne;   // ggml order: ne[0] = row length; stacked experts {in, out, n_expert}
  GgmlType type = GgmlType::F32;
  Kind kind = Kind::kWeight;
  std::string hf_name;       // source name in a Hugging Face checkpoint ("{E}" for stacked experts)
  int64_t n_expert = 0;      // > 0: experts stacked along the outermost dimension
  // llama only: the converter's Q/K row permutation (half-split -> adjacent pairs), applied per
  // head of `permute_head_dim` rows when the source is in HF layout; 0: none.
  int64_t permute_head_dim = 0;
  int64_t layer = -1;        // blk.N, else -1

  int64_t cols() const { return ne[0]; }
  int64_t rows() const { return ne.size() >= 2 ? ne[1] : 1; }  // per expert
  int64_t experts() const { return n_expert > 0 ? n_expert : 1; }
};

// Every tensor the config implies, in llama.cpp names and shapes (MTP layers skipped: llama.cpp
// does not load them), with types from `ft`. Errors name the tensor when a type cannot hold it.
Result<std::vector<GgufPlanEntry>> PlanGgufTensors(const ModelConfig& c, const GgufFileType& ft);

// The type llama.cpp gives one tensor in a file of type `ft` (converter rules for f32/f16/bf16,
// llama-quantize rules and mixes for the quantized types).
Result<GgmlType> ChooseGgufTensorType(const ModelConfig& c, const GgufFileType& ft, const GgufPlanEntry& t);

// general.* and <arch>.* keys (tokenizer.* keys come from tokenizer/tokenizer_gguf_export).
Status WriteGgufConfigMetadata(const ModelConfig& c, const std::string& model_name, const GgufFileType& ft,
                               GgufWriter* w);

// tokenizer.ggml.bos/eos_token_id from config.json where the tokenizer metadata set none.
void WriteGgufSpecialTokenFallbacks(const ModelConfig& c, GgufWriter* w);

// llama3 rope scaling as llama.cpp stores it: rope_freqs.weight divisors, computed in float32 as
// convert_hf_to_gguf.py LlamaModel does (one per frequency pair).
std::vector<float> Llama3RopeDivisors(const ModelConfig& c);

// Destination row of source row r under the converter's llama Q/K permutation:
// w.reshape(n_head, 2, hd/2, in).swapaxes(1, 2): row h*hd + j*hd/2 + i -> h*hd + 2*i + j.
inline int64_t LlamaPermutedRow(int64_t r, int64_t head_dim) {
  const int64_t h = r / head_dim, k = r % head_dim, half = head_dim / 2;
  const int64_t j = k / half, i = k % half;
  return h * head_dim + 2 * i + j;
}

}  // namespace qs
