// The decoder-only transformer every supported architecture is an instance of (llama2.c's
// forward pass, DeepSeek's inference/model.py `Transformer`/`Block`):
//
//   h = embed(tokens)                                        [T, hidden]
//   for each layer l:
//     h += attn_l(input_layernorm(h))          an AttentionBlock (MLA, GQA, sparse MLA, ...)
//     h += ffn_l(post_attention_layernorm(h))  an FfnBlock (dense SwiGLU, DeepSeekMoE, ...)
//   logits = lm_head(norm(h))                  [T, vocab]  (lm_head = embed when tied)
//
// Which blocks a layer has is decided once, by the architecture spec's make_layer
// (model/arch/); this file branches on no attention or FFN kind and names no architecture.
// MTP modules (model.layers.{num_hidden_layers + j}) are part of the same walk and are loaded
// when the checkpoint has them; they run only through ForwardMtp (speculative decoding's drafts).
#include "model/transformer.h"

#include <cstring>
#include <map>
#include <set>

#include "base/log.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "kernels/pack.h"
#include "model/arch/arch.h"

namespace qs {

namespace {

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  LayerBlocks blocks;
};

// Index of the layer a tensor name belongs to ("model.layers.12.xxx" -> 12), or -1.
int64_t LayerOf(const std::string& name) {
  static const std::string kPrefix = "model.layers.";
  if (name.compare(0, kPrefix.size(), kPrefix) != 0) return -1;
  size_t i = kPrefix.size();
  int64_t v = 0;
  bool any = false;
  while (i < name.size() && name[i] >= '0' && name[i] <= '9' && v < 1000000) {
    v = v * 10 + (name[i++] - '0');
    any = true;
  }
  return any && i < name.size() && name[i] == '.' ? v : -1;
}

// Clears a trace for a new forward, records the input rows `h` when asked, and points the
// per-layer record at it. Empty (no recording) without a trace.
LayerTrace BeginTrace(ForwardTrace* trace, const std::vector<float>& h) {
  LayerTrace lt;
  if (!trace) return lt;
  trace->hidden.clear();
  trace->experts.clear();
  trace->expert_weights.clear();
  trace->moe_layers.clear();
  trace->selected.clear();
  trace->index_scores.clear();
  trace->final_hidden.clear();
  if (trace->record_hidden) trace->hidden.insert(trace->hidden.end(), h.begin(), h.end());
  lt.experts = &trace->experts;
  lt.expert_weights = &trace->expert_weights;
  lt.selected = &trace->selected;
  if (trace->record_index_scores) lt.index_scores = &trace->index_scores;
  return lt;
}

std::string LayerPrefix(int64_t l) { return "model.layers." + std::to_string(l) + "."; }

Layer MakeLayer(const ModelConfig& c, const ArchSpec& spec, int64_t l) {
  Layer L;
  L.blocks = spec.make_layer(c, l, LayerPrefix(l));
  return L;
}

void VisitLayer(const ModelConfig& c, int64_t l, Layer& L, TensorVisitor& v) {
  const std::string p = LayerPrefix(l);
  v.Vector(p + "input_layernorm.weight", &L.attn_norm, c.hidden_size, TensorRole::kNorm);
  v.Vector(p + "post_attention_layernorm.weight", &L.ffn_norm, c.hidden_size, TensorRole::kNorm);
  L.blocks.attn->VisitTensors(v);
  L.blocks.ffn->VisitTensors(v);
}

// One MTP module (V3 report §2.2 eq. 21-25; the release's model.layers.61, README_WEIGHTS.md):
// embedding, enorm / hnorm, eh_proj, a full decoder layer (the spec's make_layer, so V3.2's gets
// its indexer), shared_head.norm and shared_head.head. The embedding and head are copies of the
// main model's in the releases; a checkpoint without them uses the main ones (SGLang does).
struct MtpModule {
  WeightMatrix embed, eh_proj, head;
  std::vector<float> enorm, hnorm, head_norm;
  Layer layer;
  bool own_embed = true, own_head = true;
};

// The module's tensors around its decoder layer; m null: declarations only.
void VisitMtpHead(const ModelConfig& c, int64_t l, MtpModule* m, TensorVisitor& v) {
  const std::string p = LayerPrefix(l);
  const int64_t H = c.hidden_size, V = c.vocab_size;
  v.Matrix(p + "embed_tokens.weight", m && m->own_embed ? &m->embed : nullptr, V, H, TensorRole::kEmbed);
  v.Vector(p + "enorm.weight", m ? &m->enorm : nullptr, H, TensorRole::kNorm);
  v.Vector(p + "hnorm.weight", m ? &m->hnorm : nullptr, H, TensorRole::kNorm);
  v.Matrix(p + "eh_proj.weight", m ? &m->eh_proj : nullptr, H, 2 * H, TensorRole::kPlain);
  v.Vector(p + "shared_head.norm.weight", m ? &m->head_norm : nullptr, H, TensorRole::kNorm);
  v.Matrix(p + "shared_head.head.weight", m && m->own_head ? &m->head : nullptr, V, H, TensorRole::kHead);
}

// The widest rows of two layouts (every layer of released models has the same kind).
void Widen(CacheLayout* a, const CacheLayout& b) {
  a->k_width = std::max(a->k_width, b.k_width);
  a->v_width = std::max(a->v_width, b.v_width);
  a->aux_width = std::max(a->aux_width, b.aux_width);
}

// A decoder layer's norms and blocks from the source.
Status LoadLayer(WeightSource& src, const ModelConfig& c, int64_t l, Layer* L) {
  const std::string p = LayerPrefix(l);
  QS_ASSIGN_OR_RETURN(L->attn_norm, src.Vector(p + "input_layernorm.weight", c.hidden_size));
  QS_ASSIGN_OR_RETURN(L->ffn_norm, src.Vector(p + "post_attention_layernorm.weight", c.hidden_size));
  QS_RETURN_IF_ERROR(L->blocks.attn->Load(src));
  return L->blocks.ffn->Load(src);
}

class TransformerModel final : public Model {
 public:
  TransformerModel(const ModelConfig& c, const ArchSpec& spec, std::unique_ptr<WeightSource> src)
      : cfg_(c), spec_(spec), src_(std::move(src)) {
    layers_.reserve(static_cast<size_t>(c.num_hidden_layers));
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers_.push_back(MakeLayer(c, spec, l));
  }

  // The one walk: embedding, each layer's norms and blocks, final norm, head; then the loaded
  // MTP modules (alone when mtp_only).
  void VisitTensors(TensorVisitor& v, bool head, bool mtp = true, bool mtp_only = false) {
    const auto& c = cfg_;
    if (!mtp_only) {
      v.Matrix("model.embed_tokens.weight", &embed_, c.vocab_size, c.hidden_size, TensorRole::kEmbed);
      for (int64_t l = 0; l < c.num_hidden_layers; ++l) VisitLayer(c, l, layers_[l], v);
      v.Vector("model.norm.weight", &final_norm_, c.hidden_size, TensorRole::kNorm);
      if (head) v.Matrix("lm_head.weight", &lm_head_, c.vocab_size, c.hidden_size, TensorRole::kHead);
    }
    for (size_t j = 0; mtp && j < mtp_.size(); ++j) {
      const int64_t l = c.num_hidden_layers + static_cast<int64_t>(j);
      VisitMtpHead(c, l, &mtp_[j], v);
      VisitLayer(c, l, mtp_[j].layer, v);
    }
  }

  // Every tensor a checkpoint of this config holds (DeclareCheckpointTensors): the same walk over
  // a model with no weights bound, with an MTP module for each num_nextn_predict_layers.
  std::vector<TensorDecl> Declarations() {
    for (int64_t j = 0; j < cfg_.num_nextn_predict_layers; ++j)
      mtp_.emplace_back().layer = MakeLayer(cfg_, spec_, cfg_.num_hidden_layers + j);
    std::vector<TensorDecl> out;
    DeclareVisitor dv(&out);
    VisitTensors(dv, /*head=*/!cfg_.tie_word_embeddings);
    return out;
  }

  // MTP modules present in the checkpoint (HF releases have them; llama.cpp's converter drops them).
  // Their cache is separate (NewMtpCache): MTP row i lags the main sequence by one token.
  Status LoadMtp() {
    const auto& c = cfg_;
    mtp_.reserve(static_cast<size_t>(c.num_nextn_predict_layers));
    for (int64_t j = 0; j < c.num_nextn_predict_layers; ++j) {
      const int64_t l = c.num_hidden_layers + j;
      const std::string p = LayerPrefix(l);
      if (!src_->Has(p + "eh_proj.weight")) break;
      MtpModule& m = mtp_.emplace_back();
      m.layer = MakeLayer(c, spec_, l);
      m.own_embed = src_->Has(p + "embed_tokens.weight");
      m.own_head = src_->Has(p + "shared_head.head.weight");
      LoadVisitor lv(*src_);
      VisitMtpHead(c, l, &m, lv);
      QS_RETURN_IF_ERROR(lv.status());
      QS_RETURN_IF_ERROR(LoadLayer(*src_, c, l, &m.layer));
      Widen(&mtp_cache_, m.layer.blocks.attn->cache_layout());
    }
    return Status::Ok();
  }

  Status Load() {
    const auto& c = cfg_;
    QS_ASSIGN_OR_RETURN(embed_, src_->Matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size));
    Progress progress("loading", static_cast<uint64_t>(c.num_hidden_layers));
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      QS_RETURN_IF_ERROR(LoadLayer(*src_, c, l, &layers_[l]));
      progress.Update(static_cast<uint64_t>(l + 1));
    }
    QS_ASSIGN_OR_RETURN(final_norm_, src_->Vector("model.norm.weight", c.hidden_size));
    if (src_->Has("lm_head.weight") || !c.tie_word_embeddings) {
      QS_ASSIGN_OR_RETURN(lm_head_, src_->Matrix("lm_head.weight", c.vocab_size, c.hidden_size));
    } else {
      lm_head_ = embed_;
    }
    for (const Layer& L : layers_) Widen(&cache_, L.blocks.attn->cache_layout());
    QS_RETURN_IF_ERROR(LoadMtp());
    // Which tensors are routed experts (info's active count) comes from the walk, once.
    std::vector<TensorDecl> decls;
    DeclareVisitor dv(&decls);
    VisitTensors(dv, /*head=*/true, /*mtp=*/false);
    for (const TensorDecl& d : decls)
      if (d.routed_expert) routed_.insert(d.name);
    // Anything left over must be an MTP layer; other strays are reported, not silently used.
    for (const auto& n : src_->Unused()) {
      int64_t l = LayerOf(n);
      if (l >= c.num_hidden_layers && l < c.num_hidden_layers + std::max<int64_t>(c.num_nextn_predict_layers, 1)) {
        mtp_tensors_.push_back(n);
      } else {
        QS_LOG_WARN("%s is not used by %s", src_->Where(n).c_str(), c.architecture.c_str());
      }
    }
    return Status::Ok();
  }

  const ModelConfig& config() const override { return cfg_; }

  std::unique_ptr<KvCache> NewCache(int64_t max_tokens) const override {
    return std::make_unique<KvCache>(cfg_.num_hidden_layers, cache_.k_width, cache_.v_width, max_tokens,
                                     cache_.aux_width);
  }

  ModelInfo Info() const override;

  int64_t mtp_modules() const override { return static_cast<int64_t>(mtp_.size()); }
  std::unique_ptr<KvCache> NewMtpCache(int64_t max_tokens) const override {
    if (mtp_.empty()) return nullptr;
    return std::make_unique<KvCache>(static_cast<int64_t>(mtp_.size()), mtp_cache_.k_width, mtp_cache_.v_width,
                                     max_tokens, mtp_cache_.aux_width);
  }
  Status ForwardMtp(const float* hidden, const int32_t* next_tokens, int64_t T, KvCache* mtp_cache, float* logits,
                    ThreadPool* pool, ForwardTrace* trace, bool last_only) override;

  Status Forward(const int32_t* tokens, int64_t T, KvCache* cache, float* logits, ThreadPool* pool,
                 ForwardTrace* trace) override {
    std::vector<SeqChunk> one(1);
    one[0].tokens = tokens;
    one[0].n = T;
    one[0].cache = cache;
    one[0].logits = logits;
    return Run(one, pool, trace);
  }

  Status ForwardBatch(const std::vector<SeqChunk>& chunks, ThreadPool* pool) override {
    return Run(chunks, pool, nullptr);
  }

  // Every matrix the forward pass multiplies with (never the embedding, which is read by row;
  // a head tied to it stays unpacked so the embedding rows stay resident).
  Status Prepare(ThreadPool* pool) override {
    if (prepared_) return Status::Ok();
    prepared_ = true;
    const int lanes = PackLanesForActiveIsa();
    if (lanes == 0) return Status::Ok();
    std::vector<WeightMatrix*> ws;
    MatrixCollector collect(&ws);
    // The MTP module is packed on its first use (PrepareMtp): a model that never drafts does not
    // pay for a second copy of its weights (V3's layer 61 alone is ~11 GiB).
    VisitTensors(collect, /*head=*/lm_head_.data != embed_.data, /*mtp=*/false);
    packed_ = PackedWeights::Pack(ws, lanes, /*drop_source=*/true, pool);
    if (packed_->matrices() > 0)
      QS_LOG_INFO("repacked %lld matrices (%.1f MiB) into %d-row groups", static_cast<long long>(packed_->matrices()),
                  static_cast<double>(packed_->bytes()) / (1 << 20), lanes);
    return Status::Ok();
  }

  Status PrepareMtp(ThreadPool* pool) {
    QS_RETURN_IF_ERROR(Prepare(pool));
    if (mtp_prepared_) return Status::Ok();
    mtp_prepared_ = true;
    const int lanes = PackLanesForActiveIsa();
    if (lanes == 0) return Status::Ok();
    std::vector<WeightMatrix*> ws;
    MatrixCollector collect(&ws);
    VisitTensors(collect, /*head=*/false, /*mtp=*/true, /*mtp_only=*/true);
    packed_mtp_ = PackedWeights::Pack(ws, lanes, /*drop_source=*/true, pool);
    return Status::Ok();
  }

 private:
  Status Run(const std::vector<SeqChunk>& chunks, ThreadPool* pool, ForwardTrace* trace);
  // One decoder layer over h_ (rows_), its cache rows in layer `cache_layer` of the rows' caches.
  void RunLayer(Layer& L, int64_t layer, int64_t cache_layer, ThreadPool* pool, ForwardTrace* trace,
                const LayerTrace* lt);
  Status CheckTokens(const int32_t* tokens, int64_t n) const;

  ModelConfig cfg_;
  const ArchSpec& spec_;
  std::unique_ptr<WeightSource> src_;
  WeightMatrix embed_, lm_head_;
  std::vector<float> final_norm_;
  std::vector<Layer> layers_;
  CacheLayout cache_;
  std::vector<std::string> mtp_tensors_;
  std::set<std::string> routed_;  // HF names of routed-expert tensors (main layers)
  std::vector<MtpModule> mtp_;
  CacheLayout mtp_cache_;
  bool prepared_ = false, mtp_prepared_ = false;
  std::unique_ptr<PackedWeights> packed_, packed_mtp_;
  Workspace ws_;
  std::vector<AttnSegment> segs_;
  BatchRows rows_;
  std::vector<int64_t> out_rows_;
  std::vector<float> h_, xn_, y_, logits_;  // [T, hidden] activations, reused
  std::vector<float> mtp_in_;              // [T, 2 hidden] MTP eh_proj input
};

// All chunks' tokens as one [T, hidden] activation matrix; attention sees per-sequence rows.
Status TransformerModel::Run(const std::vector<SeqChunk>& chunks, ThreadPool* pool, ForwardTrace* trace) {
  QS_RETURN_IF_ERROR(Prepare(pool));
  const auto& c = cfg_;
  const int64_t D = c.hidden_size;
  int64_t T = 0;
  segs_.clear();
  for (const SeqChunk& ch : chunks) {
    QS_RETURN_IF_ERROR(CheckTokens(ch.tokens, ch.n));
    for (const AttnSegment& sg : segs_)
      if (sg.cache == ch.cache) return InvalidArgument("ForwardBatch: two chunks share one KV cache");
    QS_RETURN_IF_ERROR(ch.cache->Reserve(ch.cache->size() + ch.n));
    segs_.push_back(AttnSegment{T, ch.n, ch.cache->size(), ch.cache});
    T += ch.n;
  }
  rows_.segs = &segs_;
  ExpandSegments(segs_, T, &rows_.caches, &rows_.positions);
  h_.resize(static_cast<size_t>(T * D));
  xn_.resize(static_cast<size_t>(T * D));
  y_.resize(static_cast<size_t>(T * D));
  for (size_t i = 0; i < chunks.size(); ++i)
    for (int64_t t = 0; t < chunks[i].n; ++t) DecodeRow(embed_, chunks[i].tokens[t], &h_[(segs_[i].t0 + t) * D]);
  const LayerTrace lt = BeginTrace(trace, h_);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    RunLayer(layers_[l], l, l, pool, trace, trace ? &lt : nullptr);
    if (trace && trace->record_hidden) trace->hidden.insert(trace->hidden.end(), h_.begin(), h_.end());
  }
  for (const AttnSegment& sg : segs_) sg.cache->set_size(sg.pos0 + sg.n);
  if (trace) {
    trace->final_hidden.clear();
    if (trace->record_final_hidden) {
      trace->final_hidden.resize(static_cast<size_t>(T * D));
      for (int64_t t = 0; t < T; ++t)
        RmsNorm(&h_[t * D], final_norm_.data(), D, c.rms_norm_eps, &trace->final_hidden[t * D]);
    }
  }
  for (size_t i = 0; i < chunks.size(); ++i)
    if (chunks[i].hidden)
      for (int64_t t = 0; t < chunks[i].n; ++t)
        RmsNorm(&h_[(segs_[i].t0 + t) * D], final_norm_.data(), D, c.rms_norm_eps, &chunks[i].hidden[t * D]);
  // Logits only for the rows asked for (the head is the largest matrix of a small model:
  // prefill wants just the last position). Rows are gathered so the head runs once.
  out_rows_.clear();
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!chunks[i].logits) continue;
    const int64_t first = chunks[i].last_only ? chunks[i].n - 1 : 0;
    for (int64_t t = first; t < chunks[i].n; ++t) out_rows_.push_back(segs_[i].t0 + t);
  }
  if (out_rows_.empty()) return Status::Ok();
  const int64_t R = static_cast<int64_t>(out_rows_.size()), V = c.vocab_size;
  for (int64_t r = 0; r < R; ++r) RmsNorm(&h_[out_rows_[r] * D], final_norm_.data(), D, c.rms_norm_eps, &xn_[r * D]);
  const bool direct = chunks.size() == 1;  // write straight into the caller's buffer
  if (!direct) logits_.resize(static_cast<size_t>(R * V));
  float* dst = direct ? chunks[0].logits : logits_.data();
  MatMul(lm_head_, xn_.data(), R, dst, pool);
  if (!direct) {
    int64_t r = 0;
    for (const SeqChunk& ch : chunks) {
      if (!ch.logits) continue;
      const int64_t n = ch.last_only ? 1 : ch.n;
      std::copy(&logits_[r * V], &logits_[(r + n) * V], ch.logits);
      r += n;
    }
  }
  return Status::Ok();
}

Status TransformerModel::CheckTokens(const int32_t* tokens, int64_t n) const {
  for (int64_t t = 0; t < n; ++t)
    if (tokens[t] < 0 || tokens[t] >= cfg_.vocab_size)
      return InvalidArgument("token id " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                             " is outside the vocabulary [0, " + std::to_string(cfg_.vocab_size) + ")");
  return Status::Ok();
}

void TransformerModel::RunLayer(Layer& L, int64_t layer, int64_t cache_layer, ThreadPool* pool, ForwardTrace* trace,
                                const LayerTrace* lt) {
  const auto& c = cfg_;
  const int64_t D = c.hidden_size, T = rows_.T();
  for (int64_t t = 0; t < T; ++t) RmsNorm(&h_[t * D], L.attn_norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
  L.blocks.attn->Forward(xn_.data(), rows_, cache_layer, y_.data(), ws_, pool, lt);
  for (int64_t i = 0; i < T * D; ++i) h_[i] += y_[i];
  for (int64_t t = 0; t < T; ++t) RmsNorm(&h_[t * D], L.ffn_norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
  if (trace && L.blocks.ffn->routed_per_token() > 0) trace->moe_layers.push_back(static_cast<int>(layer));
  L.blocks.ffn->Forward(xn_.data(), T, y_.data(), ws_, pool, lt);
  for (int64_t i = 0; i < T * D; ++i) h_[i] += y_[i];
}

// MTP row i (V3 report §2.2 eq. 21-23, in the code order of vLLM deepseek_mtp.py / SGLang
// deepseek_nextn.py, which the released eh_proj is laid out for):
//   x_i = eh_proj [enorm(Emb(t_{i+1})) ; hnorm(h_i)]      embedding half first
//   y   = DecoderLayer(x) at positions i, causal over the MTP's own cache
//   logits_i = head(shared_head.norm(y_i))                the MTP's own norm, not model.norm
// Only the first module runs here (V3 releases have one; chaining several is an engine choice).
Status TransformerModel::ForwardMtp(const float* hidden, const int32_t* next_tokens, int64_t T, KvCache* cache,
                                    float* logits, ThreadPool* pool, ForwardTrace* trace, bool last_only) {
  if (mtp_.empty()) return Unsupported("this model has no multi-token prediction module loaded");
  if (!cache || cache->n_layers() != static_cast<int64_t>(mtp_.size()) || cache->k_width() != mtp_cache_.k_width)
    return InvalidArgument("ForwardMtp needs a cache from NewMtpCache");
  QS_RETURN_IF_ERROR(CheckTokens(next_tokens, T));
  QS_RETURN_IF_ERROR(PrepareMtp(pool));
  const auto& c = cfg_;
  const int64_t D = c.hidden_size;
  MtpModule& m = mtp_[0];
  QS_RETURN_IF_ERROR(cache->Reserve(cache->size() + T));
  segs_.assign(1, AttnSegment{0, T, cache->size(), cache});
  rows_.segs = &segs_;
  ExpandSegments(segs_, T, &rows_.caches, &rows_.positions);
  h_.resize(static_cast<size_t>(T * D));
  xn_.resize(static_cast<size_t>(T * D));
  y_.resize(static_cast<size_t>(T * D));
  mtp_in_.resize(static_cast<size_t>(T * 2 * D));
  const WeightMatrix& embed = m.own_embed ? m.embed : embed_;
  for (int64_t t = 0; t < T; ++t) {
    DecodeRow(embed, next_tokens[t], &y_[t * D]);
    RmsNorm(&y_[t * D], m.enorm.data(), D, c.rms_norm_eps, &mtp_in_[t * 2 * D]);
    RmsNorm(hidden + t * D, m.hnorm.data(), D, c.rms_norm_eps, &mtp_in_[t * 2 * D + D]);
  }
  MatMul(m.eh_proj, mtp_in_.data(), T, h_.data(), pool);
  const LayerTrace lt = BeginTrace(trace, h_);
  RunLayer(m.layer, c.num_hidden_layers, 0, pool, trace, trace ? &lt : nullptr);
  if (trace && trace->record_hidden) trace->hidden.insert(trace->hidden.end(), h_.begin(), h_.end());
  cache->set_size(cache->size() + T);
  for (int64_t t = 0; t < T; ++t) RmsNorm(&h_[t * D], m.head_norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
  if (trace && trace->record_final_hidden) trace->final_hidden = xn_;
  const int64_t first = last_only ? T - 1 : 0;
  if (logits) MatMul(m.own_head ? m.head : lm_head_, &xn_[first * D], T - first, logits, pool);
  return Status::Ok();
}

ModelInfo TransformerModel::Info() const {
  const auto& c = cfg_;
  ModelInfo info;
  info.architecture = c.architecture;
  info.chat_family = spec_.chat_family;
  info.mtp_modules = c.num_nextn_predict_layers;
  info.mtp_loaded = static_cast<int64_t>(mtp_.size());
  info.format = src_->is_gguf() ? "gguf" : "safetensors";
  std::map<std::string, uint64_t> by_dtype;
  for (const WeightTensor& wt : src_->tensors()) {
    const std::string& n = wt.name;
    const WeightTensor* t = &wt;
    const uint64_t numel = static_cast<uint64_t>(t->numel());
    info.weight_bytes += t->nbytes;
    if (n == "rope_freqs.weight") continue;  // GGUF rope divisors, not a weight
    const bool is_scale = n.size() > 10 && n.compare(n.size() - 10, 10, "_scale_inv") == 0;
    if (is_scale) continue;  // block scales are metadata of their weight, not parameters
    int64_t l = LayerOf(n);
    if (l >= c.num_hidden_layers) {
      info.n_params_mtp += numel;
      continue;
    }
    by_dtype[t->dtype == DType::kGgmlBlock ? GgmlTypeName(t->qtype) : DTypeName(t->dtype)] += numel;
    info.n_params += numel;
    // Routed experts: only k of n_routed_experts run per token.
    if (routed_.count(n))
      info.n_params_active += numel * static_cast<uint64_t>(c.num_experts_per_tok) / static_cast<uint64_t>(c.n_routed_experts);
    else
      info.n_params_active += numel;
  }
  for (auto& [k, v] : by_dtype) info.dtype_params.emplace_back(k, v);
  info.kv_bytes_per_token =
      static_cast<uint64_t>(c.num_hidden_layers * (cache_.k_width + cache_.v_width + cache_.aux_width)) * sizeof(float);
  return info;
}

}  // namespace

Result<std::unique_ptr<Model>> MakeTransformer(const ModelConfig& c, std::unique_ptr<WeightSource> src) {
  const ArchSpec* spec = FindArchitecture(c);
  if (!spec)
    return Unsupported("architecture '" + c.architecture + "' (model_type '" + c.model_type +
                       "') is not supported; supported: " + SupportedArchitectures());
  if (spec->check) QS_RETURN_IF_ERROR(spec->check(c));
  if (spec->make_model) return spec->make_model(c, std::move(src));
  auto m = std::make_unique<TransformerModel>(c, *spec, std::move(src));
  QS_RETURN_IF_ERROR(m->Load());
  return std::unique_ptr<Model>(std::move(m));
}

Result<std::vector<TensorDecl>> DeclareCheckpointTensors(const ModelConfig& c) {
  const ArchSpec* spec = FindArchitecture(c);
  if (!spec)
    return Unsupported("architecture '" + c.architecture + "' (model_type '" + c.model_type +
                       "') is not supported; supported: " + SupportedArchitectures());
  if (spec->declare_tensors) return spec->declare_tensors(c);
  return TransformerModel(c, *spec, nullptr).Declarations();
}

}  // namespace qs
