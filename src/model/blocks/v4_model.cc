#include "model/blocks/v4_model.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

#include "base/log.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "model/blocks/v4_attention.h"
#include "model/blocks/v4_hc.h"
#include "model/blocks/v4_moe.h"

namespace qs {

namespace {

struct HcLayer {
  std::vector<float> attn_norm, ffn_norm;
  std::unique_ptr<HcMixer> hc_attn, hc_ffn;
  std::unique_ptr<V4Attention> attn;
  std::unique_ptr<V4Moe> ffn;
};

HcLayer MakeHcLayer(const ModelConfig& c, int64_t l, const std::string& p) {
  HcLayer L;
  const int64_t hc = c.hc_mult, D = c.hidden_size;
  L.hc_attn = std::make_unique<HcMixer>(p + "hc_attn_", hc, D, c.hc_sinkhorn_iters, c.hc_eps, c.rms_norm_eps, false);
  L.hc_ffn = std::make_unique<HcMixer>(p + "hc_ffn_", hc, D, c.hc_sinkhorn_iters, c.hc_eps, c.rms_norm_eps, false);
  L.attn = std::make_unique<V4Attention>(c, p + "attn.", V4Ratio(c, l));
  L.ffn = std::make_unique<V4Moe>(c, p + "ffn.", l < c.num_hash_layers);
  return L;
}

void VisitHcLayer(const ModelConfig& c, const std::string& p, HcLayer& L, TensorVisitor& v) {
  v.Vector(p + "attn_norm.weight", &L.attn_norm, c.hidden_size, TensorRole::kNorm);
  v.Vector(p + "ffn_norm.weight", &L.ffn_norm, c.hidden_size, TensorRole::kNorm);
  L.hc_attn->VisitTensors(v);
  L.hc_ffn->VisitTensors(v);
  L.attn->VisitTensors(v);
  L.ffn->VisitTensors(v);
}

std::string LayerPrefix(int64_t l) { return "layers." + std::to_string(l) + "."; }

// The MTP module (model.py MTPBlock, "mtp.0."): e_proj(enorm(Emb(t_{i+1}))) added to
// h_proj(hnorm(stream_j)) of the main model's last-layer streams, a full layer (compress ratio
// compress_ratios[num_hidden_layers], never hash-routed), its own hc head and norm, the main head.
struct HcMtp {
  WeightMatrix e_proj, h_proj;
  std::vector<float> enorm, hnorm, norm;
  std::unique_ptr<HcMixer> head;
  HcLayer layer;
};

HcMtp MakeHcMtp(const ModelConfig& c) {
  HcMtp m;
  m.head = std::make_unique<HcMixer>("mtp.0.hc_head_", c.hc_mult, c.hidden_size, c.hc_sinkhorn_iters, c.hc_eps,
                                     c.rms_norm_eps, true);
  m.layer = MakeHcLayer(c, c.num_hidden_layers, "mtp.0.");
  return m;
}

void VisitHcMtp(const ModelConfig& c, HcMtp& m, TensorVisitor& v) {
  const int64_t D = c.hidden_size;
  v.Matrix("mtp.0.e_proj.weight", &m.e_proj, D, D, TensorRole::kLinear);
  v.Matrix("mtp.0.h_proj.weight", &m.h_proj, D, D, TensorRole::kLinear);
  v.Vector("mtp.0.enorm.weight", &m.enorm, D, TensorRole::kNorm);
  v.Vector("mtp.0.hnorm.weight", &m.hnorm, D, TensorRole::kNorm);
  v.Vector("mtp.0.norm.weight", &m.norm, D, TensorRole::kNorm);
  m.head->VisitTensors(v);
  VisitHcLayer(c, "mtp.0.", m.layer, v);
}

class HcTransformer final : public Model {
 public:
  HcTransformer(const ModelConfig& c, std::unique_ptr<WeightSource> src)
      : cfg_(c), src_(std::move(src)),
        hc_head_("hc_head_", c.hc_mult, c.hidden_size, c.hc_sinkhorn_iters, c.hc_eps, c.rms_norm_eps, true) {
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers_.push_back(MakeHcLayer(c, l, LayerPrefix(l)));
  }

  void VisitTensors(TensorVisitor& v) {
    const auto& c = cfg_;
    v.Matrix("embed.weight", &embed_, c.vocab_size, c.hidden_size, TensorRole::kEmbed);
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) VisitHcLayer(c, LayerPrefix(l), layers_[l], v);
    v.Vector("norm.weight", &norm_, c.hidden_size, TensorRole::kNorm);
    hc_head_.VisitTensors(v);
    v.Matrix("head.weight", &head_, c.vocab_size, c.hidden_size, TensorRole::kHead);
    if (mtp_) VisitHcMtp(c, *mtp_, v);
  }

  // The layer's cache shape, accumulated over the layers of one cache.
  struct CacheShape {
    int64_t k = 0, aux = 0, block = 0, keep = 0;
    std::vector<int64_t> ratio;
    void Add(const HcLayer& L) {
      const CacheLayout cl = L.attn->cache_layout();
      k = std::max(k, cl.k_width);
      aux = std::max(aux, cl.aux_width);
      block = std::max(block, L.attn->block_width());
      keep = std::max(keep, L.attn->reach());
      ratio.push_back(L.attn->block_width() > 0 ? L.attn->ratio() : 0);
    }
    std::unique_ptr<KvCache> New(int64_t max_tokens) const {
      auto c = std::make_unique<KvCache>(static_cast<int64_t>(ratio.size()), k, 0, max_tokens, aux);
      c->SetCompact(keep + kChunk, keep, block, ratio);
      return c;
    }
  };

  Status Load() {
    LoadVisitor lv(*src_);
    VisitTensors(lv);
    QS_RETURN_IF_ERROR(lv.status());
    for (HcLayer& L : layers_) {
      // The blocks' own loading (tid2eid, derived weights) after the walk bound their matrices
      // (not Block::Load, which would walk and widen the FP4 scales a second time).
      QS_RETURN_IF_ERROR(L.attn->Finish(*src_));
      QS_RETURN_IF_ERROR(L.ffn->LoadTable(*src_));
      shape_.Add(L);
    }
    if (cfg_.num_nextn_predict_layers > 0 && src_->Has("mtp.0.e_proj.weight")) {
      mtp_ = std::make_unique<HcMtp>(MakeHcMtp(cfg_));
      LoadVisitor mv(*src_);
      VisitHcMtp(cfg_, *mtp_, mv);
      QS_RETURN_IF_ERROR(mv.status());
      QS_RETURN_IF_ERROR(mtp_->layer.attn->Finish(*src_));
      QS_RETURN_IF_ERROR(mtp_->layer.ffn->LoadTable(*src_));
      mtp_shape_.Add(mtp_->layer);
    }
    std::vector<TensorDecl> decls;
    DeclareVisitor dv(&decls);
    VisitTensors(dv);
    for (const TensorDecl& d : decls)
      if (d.routed_expert) routed_.insert(d.name);
    for (const auto& n : src_->Unused()) QS_LOG_WARN("%s is not used by %s", src_->Where(n).c_str(), cfg_.architecture.c_str());
    return Status::Ok();
  }

  std::vector<TensorDecl> Declarations() {
    if (cfg_.num_nextn_predict_layers > 0) mtp_ = std::make_unique<HcMtp>(MakeHcMtp(cfg_));
    std::vector<TensorDecl> out;
    DeclareVisitor dv(&out);
    VisitTensors(dv);
    return out;
  }

  const ModelConfig& config() const override { return cfg_; }
  ModelInfo Info() const override;
  // The compact cache: a ring of keep + kChunk positions (the window and the compressors' raw
  // rows; a forward runs at most kChunk tokens at a time so none is overwritten before it is read)
  // and one block row per compressed entry.
  std::unique_ptr<KvCache> NewCache(int64_t max_tokens) const override { return shape_.New(max_tokens); }
  // The MTP module consumes the main model's last-layer residual streams, [T, hc_mult * hidden]
  // per row (ForwardTrace::hidden's last layer), not the final-norm output other families take,
  // so it is not offered to the runtime's speculative decoding (mtp_modules() stays 0); tests
  // call ForwardMtp directly.
  std::unique_ptr<KvCache> NewMtpCache(int64_t max_tokens) const override {
    return mtp_ ? mtp_shape_.New(max_tokens) : nullptr;
  }
  Status ForwardMtp(const float* hidden, const int32_t* next_tokens, int64_t T, KvCache* mtp_cache, float* logits,
                    ThreadPool* pool, ForwardTrace* trace, bool last_only) override;
  Status Prepare(ThreadPool*) override { return Status::Ok(); }

  Status Forward(const int32_t* tokens, int64_t T, KvCache* cache, float* logits, ThreadPool* pool,
                 ForwardTrace* trace) override {
    return Run(tokens, T, cache, logits, false, pool, trace);
  }
  Status ForwardBatch(const std::vector<SeqChunk>& chunks, ThreadPool* pool) override {
    for (size_t i = 0; i < chunks.size(); ++i)
      for (size_t j = 0; j < i; ++j)
        if (chunks[i].cache == chunks[j].cache) return InvalidArgument("ForwardBatch: two chunks share one KV cache");
    for (const SeqChunk& ch : chunks)
      QS_RETURN_IF_ERROR(Run(ch.tokens, ch.n, ch.cache, ch.logits, ch.last_only, pool, nullptr));
    return Status::Ok();
  }

 private:
  static constexpr int64_t kChunk = 256;
  // One layer over streams_ (rows_), its cache rows in layer `cache_layer`.
  void RunLayer(HcLayer& Ly, int64_t cache_layer, const int32_t* tokens, ThreadPool* pool, ForwardTrace* trace,
                const LayerTrace* lt);
  // hc head, norm and head for rows [first, T) of streams_.
  void Head(HcMixer& hc, const std::vector<float>& norm, int64_t T, int64_t first, float* logits, ThreadPool* pool,
            ForwardTrace* trace);
  Status Run(const int32_t* tokens, int64_t T, KvCache* cache, float* logits, bool last_only, ThreadPool* pool,
             ForwardTrace* trace);
  Status RunChunk(const int32_t* tokens, int64_t T, KvCache* cache, float* logits, bool last_only, ThreadPool* pool,
                  ForwardTrace* trace);

  ModelConfig cfg_;
  std::unique_ptr<WeightSource> src_;
  WeightMatrix embed_, head_;
  std::vector<float> norm_;
  HcMixer hc_head_;
  std::vector<HcLayer> layers_;
  CacheShape shape_, mtp_shape_;
  std::unique_ptr<HcMtp> mtp_;
  std::set<std::string> routed_;
  Workspace ws_;
  std::vector<AttnSegment> segs_;
  BatchRows rows_;
  std::vector<float> streams_, x_, xn_, y_, rec_;
};

// Per-layer trace rows [layers, n, w] of consecutive chunks, merged into [layers, T, w_max].
template <class V>
void MergeRows(const std::vector<V>& piece, int64_t layers, int64_t n, int64_t t0, int64_t T, int64_t w_max, V pad,
               std::vector<V>* out) {
  if (layers == 0 || n == 0) return;
  const int64_t w = static_cast<int64_t>(piece.size()) / (layers * n);
  out->resize(static_cast<size_t>(layers * T * w_max), pad);
  for (int64_t l = 0; l < layers; ++l)
    for (int64_t t = 0; t < n; ++t)
      std::copy_n(&piece[(l * n + t) * w], w, &(*out)[(l * T + t0 + t) * w_max]);
}

Status HcTransformer::Run(const int32_t* tokens, int64_t T, KvCache* cache, float* logits, bool last_only,
                          ThreadPool* pool, ForwardTrace* trace) {
  const auto& c = cfg_;
  const int64_t L = c.num_hidden_layers;
  if (!cache || cache->n_layers() != L || cache->k_width() != shape_.k || cache->aux_width() != shape_.aux ||
      cache->ring() != shape_.keep + kChunk)
    return InvalidArgument("Forward needs a cache from this model's NewCache");
  for (int64_t t = 0; t < T; ++t)
    if (tokens[t] < 0 || tokens[t] >= c.vocab_size)
      return InvalidArgument("token id " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                             " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
  if (T <= kChunk) return RunChunk(tokens, T, cache, logits, last_only, pool, trace);
  // Longer inputs run kChunk tokens at a time (the ring holds keep + kChunk positions); a trace is
  // merged into the layout of one forward over all T rows.
  QS_RETURN_IF_ERROR(cache->Reserve(cache->size() + T));
  ForwardTrace all, piece;
  if (trace) {
    piece.record_hidden = trace->record_hidden;
    piece.record_index_scores = trace->record_index_scores;
    piece.record_final_hidden = trace->record_final_hidden;
  }
  const int64_t V = c.vocab_size, D = c.hidden_size, hc = c.hc_mult;
  int64_t ncsa = 0;
  for (int64_t l = 0; l < L; ++l) ncsa += V4Ratio(c, l) == 4;
  const int64_t S = (cache->size() + T) / 4;
  for (int64_t t0 = 0; t0 < T; t0 += kChunk) {
    const int64_t n = std::min(kChunk, T - t0);
    const bool last = t0 + n == T;
    float* lg = logits ? (last_only ? (last ? logits : nullptr) : logits + t0 * V) : nullptr;
    QS_RETURN_IF_ERROR(RunChunk(tokens + t0, n, cache, lg, last_only, pool, trace ? &piece : nullptr));
    if (!trace) continue;
    MergeRows(piece.hidden, L + 1, n, t0, T, hc * D, 0.f, &all.hidden);
    MergeRows(piece.experts, L, n, t0, T, c.num_experts_per_tok, -1, &all.experts);
    MergeRows(piece.expert_weights, L, n, t0, T, c.num_experts_per_tok, 0.f, &all.expert_weights);
    MergeRows(piece.selected, ncsa, n, t0, T, c.index_topk, -1, &all.selected);
    MergeRows(piece.index_scores, ncsa, n, t0, T, S, -std::numeric_limits<float>::infinity(), &all.index_scores);
    MergeRows(piece.final_hidden, 1, n, t0, T, D, 0.f, &all.final_hidden);
    all.moe_layers = piece.moe_layers;
  }
  if (trace) {
    trace->hidden = std::move(all.hidden);
    trace->experts = std::move(all.experts);
    trace->expert_weights = std::move(all.expert_weights);
    trace->selected = std::move(all.selected);
    trace->index_scores = std::move(all.index_scores);
    trace->final_hidden = std::move(all.final_hidden);
    trace->moe_layers = std::move(all.moe_layers);
  }
  return Status::Ok();
}

Status HcTransformer::RunChunk(const int32_t* tokens, int64_t T, KvCache* cache, float* logits, bool last_only,
                               ThreadPool* pool, ForwardTrace* trace) {
  const auto& c = cfg_;
  const int64_t D = c.hidden_size, hc = c.hc_mult, L = c.num_hidden_layers;
  if (T <= 0) return Status::Ok();
  QS_RETURN_IF_ERROR(cache->Reserve(cache->size() + T));
  segs_.assign(1, AttnSegment{0, T, cache->size(), cache});
  rows_.segs = &segs_;
  ExpandSegments(segs_, T, &rows_.caches, &rows_.positions);
  streams_.resize(static_cast<size_t>(T * hc * D));
  x_.resize(static_cast<size_t>(T * D));
  xn_.resize(static_cast<size_t>(T * D));
  y_.resize(static_cast<size_t>(T * D));
  for (int64_t t = 0; t < T; ++t) {
    DecodeRow(embed_, tokens[t], &x_[t * D]);
    for (int64_t j = 0; j < hc; ++j) std::copy(&x_[t * D], &x_[(t + 1) * D], &streams_[(t * hc + j) * D]);
  }
  LayerTrace lt;
  if (trace) {
    trace->hidden.clear();
    trace->experts.clear();
    trace->expert_weights.clear();
    trace->moe_layers.clear();
    trace->selected.clear();
    trace->index_scores.clear();
    trace->final_hidden.clear();
    if (trace->record_hidden) trace->hidden = streams_;
    lt.experts = &trace->experts;
    lt.expert_weights = &trace->expert_weights;
    lt.selected = &trace->selected;
    if (trace->record_index_scores) lt.index_scores = &trace->index_scores;
  }
  for (int64_t l = 0; l < L; ++l) {
    if (trace) trace->moe_layers.push_back(static_cast<int>(l));
    RunLayer(layers_[l], l, tokens, pool, trace, trace ? &lt : nullptr);
  }
  cache->set_size(cache->size() + T);
  const bool want_final = trace && trace->record_final_hidden;
  if (logits || want_final) Head(hc_head_, norm_, T, logits && last_only ? T - 1 : 0, logits, pool, trace);
  return Status::Ok();
}

void HcTransformer::RunLayer(HcLayer& Ly, int64_t cache_layer, const int32_t* tokens, ThreadPool* pool,
                             ForwardTrace* trace, const LayerTrace* lt) {
  const auto& c = cfg_;
  const int64_t D = c.hidden_size, T = rows_.T();
  rec_.resize(static_cast<size_t>(T * Ly.hc_attn->record_width()));
  Ly.hc_attn->Pre(streams_.data(), T, x_.data(), rec_.data(), pool);
  for (int64_t t = 0; t < T; ++t) RmsNorm(&x_[t * D], Ly.attn_norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
  Ly.attn->Forward(xn_.data(), rows_, cache_layer, y_.data(), ws_, pool, lt);
  Ly.hc_attn->Post(y_.data(), T, rec_.data(), streams_.data());
  Ly.hc_ffn->Pre(streams_.data(), T, x_.data(), rec_.data(), pool);
  for (int64_t t = 0; t < T; ++t) RmsNorm(&x_[t * D], Ly.ffn_norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
  Ly.ffn->set_tokens(tokens);
  Ly.ffn->Forward(xn_.data(), T, y_.data(), ws_, pool, lt);
  Ly.hc_ffn->Post(y_.data(), T, rec_.data(), streams_.data());
  if (trace && trace->record_hidden) trace->hidden.insert(trace->hidden.end(), streams_.begin(), streams_.end());
}

// model.py ParallelHead: hc head, final norm, head. With a trace asking for final_hidden every
// row runs; otherwise rows [first, T) only.
void HcTransformer::Head(HcMixer& hc, const std::vector<float>& norm, int64_t T, int64_t first, float* logits,
                         ThreadPool* pool, ForwardTrace* trace) {
  const auto& c = cfg_;
  const int64_t D = c.hidden_size;
  const bool want_final = trace && trace->record_final_hidden;
  const int64_t r0 = want_final ? 0 : first, n = T - r0;
  rec_.resize(static_cast<size_t>(n * hc.record_width()));
  hc.Pre(&streams_[r0 * c.hc_mult * D], n, x_.data(), rec_.data(), pool);
  for (int64_t t = 0; t < n; ++t) RmsNorm(&x_[t * D], norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
  if (want_final) trace->final_hidden.assign(xn_.begin(), xn_.begin() + n * D);
  if (logits) MatMul(head_, &xn_[(first - r0) * D], T - first, logits, pool);
}

Status HcTransformer::ForwardMtp(const float* hidden, const int32_t* next_tokens, int64_t T, KvCache* cache,
                                 float* logits, ThreadPool* pool, ForwardTrace* trace, bool last_only) {
  if (!mtp_) return Unsupported("this model has no multi-token prediction module loaded");
  const auto& c = cfg_;
  const int64_t D = c.hidden_size, hc = c.hc_mult;
  if (!cache || cache->n_layers() != 1 || cache->k_width() != mtp_shape_.k || cache->aux_width() != mtp_shape_.aux)
    return InvalidArgument("ForwardMtp needs a cache from NewMtpCache");
  if (T > kChunk) return InvalidArgument("ForwardMtp runs at most " + std::to_string(kChunk) + " rows at a time");
  for (int64_t t = 0; t < T; ++t)
    if (next_tokens[t] < 0 || next_tokens[t] >= c.vocab_size)
      return InvalidArgument("token id " + std::to_string(next_tokens[t]) + " is outside the vocabulary");
  if (T <= 0) return Status::Ok();
  QS_RETURN_IF_ERROR(cache->Reserve(cache->size() + T));
  segs_.assign(1, AttnSegment{0, T, cache->size(), cache});
  rows_.segs = &segs_;
  ExpandSegments(segs_, T, &rows_.caches, &rows_.positions);
  HcMtp& m = *mtp_;
  streams_.resize(static_cast<size_t>(T * hc * D));
  x_.resize(static_cast<size_t>(T * hc * D));
  xn_.resize(static_cast<size_t>(T * hc * D));
  y_.resize(static_cast<size_t>(T * D));
  for (int64_t t = 0; t < T; ++t) {
    DecodeRow(embed_, next_tokens[t], &x_[t * D]);
    RmsNorm(&x_[t * D], m.enorm.data(), D, c.rms_norm_eps, &x_[t * D]);
  }
  MatMul(m.e_proj, x_.data(), T, y_.data(), pool);
  for (int64_t r = 0; r < T * hc; ++r) RmsNorm(hidden + r * D, m.hnorm.data(), D, c.rms_norm_eps, &xn_[r * D]);
  MatMul(m.h_proj, xn_.data(), T * hc, streams_.data(), pool);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < hc; ++j)
      for (int64_t i = 0; i < D; ++i) streams_[(t * hc + j) * D + i] += y_[t * D + i];
  LayerTrace lt;
  if (trace) {
    trace->experts.clear();
    trace->expert_weights.clear();
    trace->hidden.clear();
    lt.experts = &trace->experts;
    lt.expert_weights = &trace->expert_weights;
  }
  RunLayer(m.layer, 0, next_tokens, pool, trace, trace ? &lt : nullptr);
  cache->set_size(cache->size() + T);
  if (logits) Head(*m.head, m.norm, T, last_only ? T - 1 : 0, logits, pool, nullptr);
  return Status::Ok();
}

ModelInfo HcTransformer::Info() const {
  const auto& c = cfg_;
  ModelInfo info;
  info.architecture = c.architecture;
  info.mtp_modules = c.num_nextn_predict_layers;
  info.mtp_loaded = mtp_ ? 1 : 0;  // loaded (ForwardMtp), though not offered to speculative decoding (NewMtpCache)
  info.format = src_->is_gguf() ? "gguf" : "safetensors";
  std::map<std::string, uint64_t> by_dtype;
  for (const WeightTensor& t : src_->tensors()) {
    const std::string& n = t.name;
    info.weight_bytes += t.nbytes;
    const bool is_scale = n.size() > 6 && n.compare(n.size() - 6, 6, ".scale") == 0 && t.dtype == DType::kF8E8M0;
    if (is_scale) continue;
    // Packed FP4 (I8) holds two parameters per byte.
    const uint64_t numel = static_cast<uint64_t>(t.numel()) * (t.dtype == DType::kI8 ? 2 : 1);
    if (n.compare(0, 4, "mtp.") == 0) {
      info.n_params_mtp += numel;
      continue;
    }
    by_dtype[t.dtype == DType::kI8 ? "F4_E2M1" : DTypeName(t.dtype)] += numel;
    info.n_params += numel;
    if (routed_.count(n))
      info.n_params_active += numel * static_cast<uint64_t>(c.num_experts_per_tok) / static_cast<uint64_t>(c.n_routed_experts);
    else
      info.n_params_active += numel;
  }
  for (auto& [k, v] : by_dtype) info.dtype_params.emplace_back(k, v);
  // The compact cache grows by its block rows only (KvCache::bytes_per_token); the ring of
  // keep + kChunk positions is fixed.
  auto cache = NewCache(1);
  info.kv_bytes_per_token = cache->bytes_per_token();
  info.kv_bytes_fixed = static_cast<uint64_t>(cache->n_layers() * cache->ring() * (cache->k_width() + cache->aux_width())) * 4;
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "fp32 compressed entries [%lld + %lld] per 4 (CSA) / 128 (HCA) tokens; plus a fixed ring of %lld "
                "positions: %s",
                static_cast<long long>(c.head_dim), static_cast<long long>(c.index_head_dim),
                static_cast<long long>(cache->ring()), FormatBytes(static_cast<double>(info.kv_bytes_fixed)).c_str());
  info.kv_cache_layout = buf;
  return info;
}

}  // namespace

Result<std::unique_ptr<Model>> MakeHcTransformer(const ModelConfig& c, std::unique_ptr<WeightSource> src) {
  auto m = std::make_unique<HcTransformer>(c, std::move(src));
  QS_RETURN_IF_ERROR(m->Load());
  return std::unique_ptr<Model>(std::move(m));
}

std::vector<TensorDecl> DeclareHcTransformerTensors(const ModelConfig& c) { return HcTransformer(c, nullptr).Declarations(); }

}  // namespace qs
