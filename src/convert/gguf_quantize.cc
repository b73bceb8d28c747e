#include "convert/gguf_quantize.h"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <sys/mman.h>
#include <unistd.h>

#include "base/log.h"
#include "base/thread_pool.h"
#include "io/checkpoint.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "kernels/matmul.h"
#include "model/gguf_config.h"
#include "model/gguf_names.h"
#include "quant/quant.h"

namespace qs {

namespace fs = std::filesystem;

namespace {

// Drops the whole pages inside [p, p + n) of a read-only file mapping from the resident set.
void DropPages(const void* p, size_t n) {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t b = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t e = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (e > b) madvise(reinterpret_cast<void*>(b), e - b, MADV_DONTNEED);
}

std::string HfName(const GgufPlanEntry& t, int64_t e) { return t.n_expert > 0 ? ExpertName(t.hf_name, e) : t.hf_name; }

// A Hugging Face checkpoint: F32 / F16 / BF16, or FP8-e4m3 with its 128x128 weight_scale_inv
// blocks (DeepSeek-V3 release), decoded row by row straight from the mapped safetensors.
class HfRowSource : public GgufRowSource {
 public:
  HfRowSource(std::unique_ptr<Checkpoint> ck, const ModelConfig& c) : ck_(std::move(ck)), cfg_(c) {}
  bool hf_layout() const override { return true; }

  Status ReadRows(const GgufPlanEntry& t, int64_t e, int64_t r0, int64_t n, float* out, ThreadPool* pool) override {
    const std::string name = HfName(t, e);
    if (r0 == 0 || cur_.name != name) QS_RETURN_IF_ERROR(Open(t, name));
    const int64_t cols = t.cols();
    if (cur_.dtype == DType::kF32) {  // may be unaligned in the file: copy bytes
      std::memcpy(out, cur_.data + static_cast<size_t>(r0) * cur_.row_stride, static_cast<size_t>(n * cols) * 4);
      DropPages(cur_.data + static_cast<size_t>(r0) * cur_.row_stride, static_cast<size_t>(n * cols) * 4);
      return Status::Ok();
    }
    pool->ParallelFor(n, [&](int64_t b, int64_t end, int) {
      for (int64_t i = b; i < end; ++i) DecodeRow(cur_, r0 + i, out + i * cols);
    });
    DropPages(cur_.data + static_cast<size_t>(r0) * cur_.row_stride, static_cast<size_t>(n) * cur_.row_stride);
    return Status::Ok();
  }

  void Done(const GgufPlanEntry& t) override {
    for (int64_t e = 0; e < t.experts(); ++e) {
      const std::string name = HfName(t, e);
      if (const TensorView* v = ck_->Find(name)) DropPages(v->data, v->nbytes);
      if (const TensorView* v = ck_->Find(name + "_scale_inv")) DropPages(v->data, v->nbytes);
    }
  }

  std::vector<std::string> Unused() const {
    std::vector<std::string> out;
    for (const auto& n : ck_->Names())
      if (!used_.count(n)) out.push_back(n);
    return out;
  }

 private:
  Status Open(const GgufPlanEntry& t, const std::string& name) {
    const TensorView* v = ck_->Find(name);
    if (!v) return NotFound("tensor '" + name + "' (for " + t.name + ") is missing from the checkpoint");
    used_.insert(name);
    const std::string where = ck_->FileOf(name) + ": tensor '" + name + "'";
    const int64_t rows = t.rows(), cols = t.cols();
    const Shape want = t.ne.size() == 1 ? Shape{cols} : Shape{rows, cols};
    if (v->shape != want)
      return InvalidArgument(where + " has shape " + ShapeToString(v->shape) + " but config.json implies " +
                             ShapeToString(want));
    WeightMatrix w;
    w.name = name;
    w.dtype = v->dtype;
    w.rows = rows;
    w.cols = cols;
    w.data = v->data;
    switch (v->dtype) {
      case DType::kF32: case DType::kF16: case DType::kBF16: break;
      case DType::kF8E4M3: {
        const std::string sname = name + "_scale_inv";
        const TensorView* s = ck_->Find(sname);
        if (!s) return NotFound(where + " is F8_E4M3 but its scale tensor '" + sname + "' is missing");
        used_.insert(sname);
        const int64_t br = cfg_.fp8_block_rows, bc = cfg_.fp8_block_cols;
        const Shape ws{(rows + br - 1) / br, (cols + bc - 1) / bc};
        if (s->dtype != DType::kF32 || s->shape != ws)
          return InvalidArgument(ck_->FileOf(sname) + ": tensor '" + sname + "' must be F32 " + ShapeToString(ws) +
                                 ", got " + DTypeName(s->dtype) + " " + ShapeToString(s->shape));
        if (reinterpret_cast<uintptr_t>(s->data) % alignof(float) != 0)
          return InvalidArgument(ck_->FileOf(sname) + ": tensor '" + sname + "' is not 4-byte aligned");
        w.scale_inv = reinterpret_cast<const float*>(s->data);
        w.block_rows = br;
        w.block_cols = bc;
        w.scale_cols = ws[1];
        break;
      }
      default:
        return InvalidArgument(where + " has dtype " + DTypeName(v->dtype) + ", which cannot be converted");
    }
    w.row_stride = static_cast<size_t>(cols) * DTypeSize(v->dtype);
    cur_ = w;
    return Status::Ok();
  }

  std::unique_ptr<Checkpoint> ck_;
  ModelConfig cfg_;
  WeightMatrix cur_;
  std::set<std::string> used_;
};

// Another GGUF file (requantizing): every tensor is dequantized with the reference
// dequantizers, then quantized again. Rows are already in GGUF order.
class GgufFileRowSource : public GgufRowSource {
 public:
  GgufFileRowSource(const GgufFile& g, const ModelConfig& c) : g_(g), c_(c) {}
  bool hf_layout() const override { return false; }

  Status ReadRows(const GgufPlanEntry& t, int64_t e, int64_t r0, int64_t n, float* out, ThreadPool* pool) override {
    const GgufTensorInfo* ti = g_.FindTensor(t.name);
    const std::string kvb = ".attn_kv_b.weight";
    if (!ti && t.name.size() > kvb.size() && t.name.compare(t.name.size() - kvb.size(), kvb.size(), kvb) == 0)
      return ReadSplitKvB(t, t.name.substr(0, t.name.size() - kvb.size()), r0, n, out);
    if (!ti) return NotFound(g_.path() + ": tensor '" + t.name + "' is missing");
    if (ti->ne != t.ne) {
      std::string a, b;
      for (auto x : ti->ne) a += (a.empty() ? "" : ", ") + std::to_string(x);
      for (auto x : t.ne) b += (b.empty() ? "" : ", ") + std::to_string(x);
      return InvalidArgument(g_.path() + ": tensor '" + t.name + "' has ne {" + a + "} but its metadata implies {" + b + "}");
    }
    if (!CanDequantize(ti->type))
      return Unsupported(g_.path() + ": tensor '" + t.name + "' has type " + GgmlTypeName(ti->type) +
                         ", which cannot be dequantized");
    const int64_t cols = t.cols();
    QS_ASSIGN_OR_RETURN(size_t row_bytes, GgmlRowSize(ti->type, cols));
    const uint8_t* base = ti->data + static_cast<size_t>(e * t.rows() + r0) * row_bytes;
    const GgmlType type = ti->type;
    pool->ParallelFor(n, [&](int64_t b, int64_t end, int) {
      for (int64_t i = b; i < end; ++i) (void)DequantizeRow(type, base + i * row_bytes, out + i * cols, cols);
    });
    DropPages(base, static_cast<size_t>(n) * row_bytes);  // read once: keep the resident set at one chunk
    return Status::Ok();
  }

 private:
  void Done(const GgufPlanEntry& t) override {
    if (const GgufTensorInfo* ti = g_.FindTensor(t.name)) DropPages(ti->data, ti->nbytes);
  }

  // Newer converters store deepseek2's kv_b_proj as attn_k_b (per head, transposed: numpy
  // [n_head, kv_lora, nope]) and attn_v_b ([n_head, v_head, kv_lora]); rebuild the rows of the
  // combined attn_kv_b ([n_head * (nope + v_head), kv_lora]) from them, one head at a time.
  Status ReadSplitKvB(const GgufPlanEntry& t, const std::string& prefix, int64_t r0, int64_t n, float* out) {
    const GgufTensorInfo* kb = g_.FindTensor(prefix + ".attn_k_b.weight");
    const GgufTensorInfo* vb = g_.FindTensor(prefix + ".attn_v_b.weight");
    if (!kb || !vb) return NotFound(g_.path() + ": tensor '" + t.name + "' is missing (and no attn_k_b / attn_v_b split)");
    const int64_t H = c_.num_attention_heads, nope = c_.qk_nope_head_dim, vd = c_.v_head_dim, L = c_.kv_lora_rank;
    if (kb->ne != std::vector<int64_t>{nope, L, H} || vb->ne != std::vector<int64_t>{L, vd, H})
      return InvalidArgument(g_.path() + ": tensors '" + kb->name + "' / '" + vb->name +
                             "' do not have the shapes of a kv_b_proj split");
    if (!CanDequantize(kb->type) || !CanDequantize(vb->type))
      return Unsupported(g_.path() + ": '" + kb->name + "' / '" + vb->name + "' cannot be dequantized");
    QS_ASSIGN_OR_RETURN(size_t kb_row, GgmlRowSize(kb->type, nope));
    QS_ASSIGN_OR_RETURN(size_t vb_row, GgmlRowSize(vb->type, L));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t r = r0 + i, h = r / (nope + vd), j = r % (nope + vd);
      float* dst = out + i * L;
      if (j >= nope) {
        QS_RETURN_IF_ERROR(DequantizeRow(vb->type, vb->data + static_cast<size_t>(h * vd + j - nope) * vb_row, dst, L));
        continue;
      }
      if (head_ != h || head_name_ != kb->name) {  // k_b[h] is [kv_lora, nope]: decode the head once
        head_buf_.resize(static_cast<size_t>(L * nope));
        for (int64_t c = 0; c < L; ++c)
          QS_RETURN_IF_ERROR(DequantizeRow(kb->type, kb->data + static_cast<size_t>(h * L + c) * kb_row,
                                           &head_buf_[c * nope], nope));
        head_ = h;
        head_name_ = kb->name;
      }
      for (int64_t c = 0; c < L; ++c) dst[c] = head_buf_[c * nope + j];
    }
    return Status::Ok();
  }

  const GgufFile& g_;
  ModelConfig c_;
  int64_t head_ = -1;
  std::string head_name_;
  std::vector<float> head_buf_;
};

}  // namespace

Status WriteGgufModel(const ModelConfig& c, GgufRowSource* src, const GgufModelWriteOptions& o) {
  QS_ASSIGN_OR_RETURN(std::vector<GgufPlanEntry> plan, PlanGgufTensors(c, o.type));
  GgufWriter w;
  QS_RETURN_IF_ERROR(WriteGgufConfigMetadata(c, o.model_name, o.type, &w));
  if (o.extra_metadata) QS_RETURN_IF_ERROR(o.extra_metadata(&w));
  WriteGgufSpecialTokenFallbacks(c, &w);
  uint64_t total = 0;
  for (const auto& t : plan) {
    QS_RETURN_IF_ERROR(w.AddTensor(t.name, t.type, t.ne));
    total += w.tensor_nbytes(w.tensor_count() - 1);
  }
  QS_RETURN_IF_ERROR(w.Begin(o.out_path));
  auto fail = [&](const Status& st) {
    std::error_code ec;
    fs::remove(o.out_path, ec);
    return st;
  };
  ThreadPool pool(o.threads > 0 ? o.threads : DefaultThreadCount());
  Progress progress(o.progress_label, total);
  uint64_t done = 0;
  std::vector<float> buf, perm;
  std::vector<uint8_t> qbuf;
  const bool permute = src->hf_layout();
  for (const GgufPlanEntry& t : plan) {
    if (t.kind == GgufPlanEntry::Kind::kRopeFreqs) {
      std::vector<float> d = c.rope.freq_divisors.empty() ? Llama3RopeDivisors(c) : c.rope.freq_divisors;
      if (static_cast<int64_t>(d.size()) != t.cols())
        return fail(InvalidArgument("rope_freqs.weight: " + std::to_string(d.size()) + " divisors for " +
                                    std::to_string(t.cols()) + " frequency pairs"));
      Status st = w.WriteTensor(t.name, d.data(), d.size() * 4);
      if (!st.ok()) return fail(st);
      continue;
    }
    const int64_t rows = t.rows(), cols = t.cols();
    const int64_t hd = permute ? t.permute_head_dim : 0;
    int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(rows, static_cast<int64_t>(o.chunk_floats) / cols));
    if (hd > 0 && t.ne.size() >= 2) chunk = std::max<int64_t>(hd, chunk / hd * hd);  // whole heads
    auto row_bytes_or = GgmlRowSize(t.type, cols);
    if (!row_bytes_or.ok()) return fail(row_bytes_or.status());
    const size_t row_bytes = *row_bytes_or;
    for (int64_t e = 0; e < t.experts(); ++e) {
      for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t n = std::min(chunk, rows - r0);
        buf.resize(static_cast<size_t>(n * cols));
        Status st = src->ReadRows(t, e, r0, n, buf.data(), &pool);
        if (!st.ok()) return fail(st);
        if (hd > 0) {  // llama Q/K: half-split -> adjacent pairs (rows of a matrix, elements of a bias)
          perm.resize(buf.size());
          if (t.ne.size() == 1) {
            for (int64_t k = 0; k < cols; ++k) perm[LlamaPermutedRow(k, hd)] = buf[k];
          } else {
            for (int64_t r = 0; r < n; ++r)
              std::memcpy(&perm[LlamaPermutedRow(r, hd) * cols], &buf[r * cols], static_cast<size_t>(cols) * 4);
          }
          buf.swap(perm);
        }
        qbuf.resize(static_cast<size_t>(n) * row_bytes);
        std::atomic<bool> ok{true};
        pool.ParallelFor(n, [&](int64_t b, int64_t end, int) {
          for (int64_t i = b; i < end; ++i)
            if (!QuantizeRow(t.type, buf.data() + i * cols, qbuf.data() + i * row_bytes, cols).ok()) ok = false;
        });
        if (!ok) return fail(Status(ErrorCode::kInternal, "tensor '" + t.name + "': cannot quantize to " + GgmlTypeName(t.type)));
        st = w.WriteTensorChunk(qbuf.data(), qbuf.size());
        if (!st.ok()) return fail(st);
        done += qbuf.size();
        progress.Update(done);
      }
    }
    src->Done(t);
  }
  Status st = w.Finish();
  if (!st.ok()) return fail(st);
  progress.Finish();
  QS_LOG_INFO("wrote %s: %zu tensors, %s, type %s", o.out_path.c_str(), plan.size(),
              FormatBytes(static_cast<double>(total)).c_str(), o.type.name);
  return Status::Ok();
}

Status QuantizeModel(const QuantizeOptions& o) {
  QS_ASSIGN_OR_RETURN(GgufFileType ft, ParseGgufFileType(o.type));
  GgufModelWriteOptions wo;
  wo.out_path = o.out;
  wo.type = ft;
  wo.threads = o.threads;
  std::error_code ec;
  if (fs::is_directory(o.model, ec)) {
    const std::string cfg_path = (fs::path(o.model) / "config.json").string();
    QS_ASSIGN_OR_RETURN(ModelConfig c, LoadModelConfig(cfg_path));
    QS_ASSIGN_OR_RETURN(auto ck, Checkpoint::OpenDir(o.model));
    HfRowSource src(std::move(ck), c);
    wo.model_name = fs::path(o.model).lexically_normal().filename().string();
    if (wo.model_name.empty()) wo.model_name = fs::path(o.model).lexically_normal().parent_path().filename().string();
    if (!o.name.empty()) wo.model_name = o.name;
    const std::string dir = o.model;
    if (o.hf_tokenizer) wo.extra_metadata = [&](GgufWriter* w) { return o.hf_tokenizer(dir, w); };
    QS_RETURN_IF_ERROR(WriteGgufModel(c, &src, wo));
    int mtp = 0;
    std::vector<std::string> unused;
    for (auto& n : src.Unused()) {
      int l = -1;
      if (std::sscanf(n.c_str(), "model.layers.%d.", &l) == 1 && l >= c.num_hidden_layers) ++mtp;
      else unused.push_back(n);
    }
    if (mtp) QS_LOG_INFO("skipped %d tensors of the MTP layers (llama.cpp's %s does not load them)", mtp,
                         GgufArchitecture(c).c_str());
    for (auto& n : unused) QS_LOG_WARN("%s: tensor '%s' was not converted", o.model.c_str(), n.c_str());
    return Status::Ok();
  }
  if (!fs::is_regular_file(o.model, ec))
    return NotFound(o.model + ": not a checkpoint directory or GGUF file");
  QS_ASSIGN_OR_RETURN(auto g, GgufFile::Open(o.model));
  QS_ASSIGN_OR_RETURN(ModelConfig c, ConfigFromGguf(*g));
  GgufFileRowSource src(*g, c);
  const GgufValue* nm = g->Find("general.name");
  wo.model_name = nm && nm->type == GgufValueType::kString ? std::string(nm->str)
                                                            : fs::path(o.model).stem().string();
  if (!o.name.empty()) wo.model_name = o.name;
  // Tokenizer and chat template travel unchanged.
  wo.extra_metadata = [&](GgufWriter* w) { return w->CopyMetadata(*g, "tokenizer."); };
  return WriteGgufModel(c, &src, wo);
}

}  // namespace qs
