// Writing a model as a llama.cpp GGUF file, streamed tensor by tensor: `qiusuo quantize` (from a
// Hugging Face directory -- BF16/F32/FP8 as released -- or from another GGUF file) and
// `qiusuo synth --out x.gguf` share this path. Only one chunk of rows (a few MB of fp32) is
// held at a time; the rows of a chunk are decoded and quantized in parallel on a thread pool.
#pragma once

#include <functional>
#include <string>

#include "base/status.h"
#include "model/config.h"
#include "convert/gguf_export.h"

namespace qs {

class GgufWriter;
class ThreadPool;

// Where the fp32 values of the planned tensors come from.
class GgufRowSource {
 public:
  virtual ~GgufRowSource() = default;
  // Rows [r0, r0 + n) of tensor `t` (expert `e` of a stacked tensor, else 0), each t.cols()
  // floats, into out. Called with r0 increasing from 0 for each (tensor, expert) in plan order.
  // A 1-D tensor is one row.
  virtual Status ReadRows(const GgufPlanEntry& t, int64_t e, int64_t r0, int64_t n, float* out, ThreadPool* pool) = 0;
  // True when rows come in Hugging Face order (the llama Q/K permutation is still to be applied).
  virtual bool hf_layout() const = 0;
  // Tensor `t` is done: a mapped source drops its pages, so converting a file larger than RAM
  // keeps the resident set at about one tensor (the pages are file-backed and re-readable).
  virtual void Done(const GgufPlanEntry& t) {}
};

struct GgufModelWriteOptions {
  std::string out_path;
  std::string model_name;
  GgufFileType type{};
  int threads = 0;  // <= 0: DefaultThreadCount()
  // Extra metadata (tokenizer.* keys), set after the model keys.
  std::function<Status(GgufWriter*)> extra_metadata;
  std::string progress_label = "quantize";
  size_t chunk_floats = size_t{4} << 20;  // rows per chunk: about this many floats
};

// Plans, writes the metadata, then streams every tensor from `src`. On error the partial file
// is removed and the message names the tensor.
Status WriteGgufModel(const ModelConfig& c, GgufRowSource* src, const GgufModelWriteOptions& o);

struct QuantizeOptions {
  std::string model;  // HF checkpoint directory or .gguf file
  std::string out;
  std::string type;   // ParseGgufFileType name
  std::string name;   // general.name; default: the input's general.name, else its directory / file name
  int threads = 0;
  // Tokenizer metadata for an HF directory (tokenizer.json there); GGUF inputs copy theirs.
  std::function<Status(const std::string& dir, GgufWriter*)> hf_tokenizer;
};
Status QuantizeModel(const QuantizeOptions& o);

}  // namespace qs
