// The decoder-only transformer every supported architecture is an instance of (llama2.c's
// forward pass, DeepSeek's inference/model.py `Transformer`/`Block`):
//
//   h = embed(tokens)                                        [T, hidden]
//   for each layer l:
//     h += Attn(input_layernorm(h))          MLA (model/mla.h) when config has kv_lora_rank,
//                                            else grouped-query attention (model/gqa.h)
//     h += FFN(post_attention_layernorm(h))  dense SwiGLU, or DeepSeekMoE where
//                                            config.is_moe_layer(l) (model/moe.h)
//   logits = lm_head(norm(h))                [T, vocab]  (lm_head = embed when tied)
//
// Which blocks a model uses is data (config), never a switch on model names; architecture
// files in src/model/arch/ only check what their config must hold and call MakeTransformer.
// MTP layers (model.layers.{num_hidden_layers + j}) are counted but not loaded: they serve
// speculative decoding, not this forward pass.
#include <cstring>
#include <map>

#include "base/log.h"
#include "base/thread_pool.h"
#include "kernels/ops.h"
#include "kernels/pack.h"
#include "model/gqa.h"
#include "model/mla.h"
#include "model/moe.h"
#include "model/transformer.h"

namespace qs {

namespace {

struct Layer {
  std::vector<float> attn_norm, ffn_norm;
  MlaWeights mla;  // MLA models
  GqaWeights gqa;  // the others
  bool moe = false;
  FfnWeights dense;
  MoeWeights experts;
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

class TransformerModel final : public Model {
 public:
  TransformerModel(const ModelConfig& c, std::unique_ptr<WeightSource> src)
      : cfg_(c), src_(std::move(src)), moe_(c) {
    if (c.is_mla()) mla_ = std::make_unique<MlaAttention>(c);
    else gqa_ = std::make_unique<GqaAttention>(c);
  }

  Status Load() {
    const auto& c = cfg_;
    QS_ASSIGN_OR_RETURN(embed_, src_->Matrix("model.embed_tokens.weight", c.vocab_size, c.hidden_size));
    layers_.resize(static_cast<size_t>(c.num_hidden_layers));
    Progress progress("loading", static_cast<uint64_t>(c.num_hidden_layers));
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      Layer& L = layers_[l];
      QS_ASSIGN_OR_RETURN(L.attn_norm, src_->Vector(p + "input_layernorm.weight", c.hidden_size));
      QS_ASSIGN_OR_RETURN(L.ffn_norm, src_->Vector(p + "post_attention_layernorm.weight", c.hidden_size));
      if (mla_) {
        QS_ASSIGN_OR_RETURN(L.mla, LoadMla(*src_, p + "self_attn.", c));
      } else {
        QS_ASSIGN_OR_RETURN(L.gqa, LoadGqa(*src_, p + "self_attn.", c));
      }
      L.moe = c.is_moe_layer(l);
      if (L.moe) {
        QS_ASSIGN_OR_RETURN(L.experts, LoadMoe(*src_, p + "mlp.", c));
      } else {
        QS_ASSIGN_OR_RETURN(L.dense, LoadFfn(*src_, p + "mlp.", c.hidden_size, c.intermediate_size));
      }
      progress.Update(static_cast<uint64_t>(l + 1));
    }
    QS_ASSIGN_OR_RETURN(final_norm_, src_->Vector("model.norm.weight", c.hidden_size));
    if (src_->Has("lm_head.weight") || !c.tie_word_embeddings) {
      QS_ASSIGN_OR_RETURN(lm_head_, src_->Matrix("lm_head.weight", c.vocab_size, c.hidden_size));
    } else {
      lm_head_ = embed_;
    }
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
    if (mla_) return std::make_unique<KvCache>(cfg_.num_hidden_layers, mla_->cache_width(), 0, max_tokens);
    return std::make_unique<KvCache>(cfg_.num_hidden_layers, gqa_->kv_width(), gqa_->kv_width(), max_tokens);
  }

  ModelInfo Info() const override;

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
    auto ffn = [&](FfnWeights& f) { ws.insert(ws.end(), {&f.gate, &f.up, &f.down}); };
    for (Layer& L : layers_) {
      ws.insert(ws.end(), {&L.gqa.q, &L.gqa.k, &L.gqa.v, &L.gqa.o});
      ws.insert(ws.end(), {&L.mla.q_a, &L.mla.q_b, &L.mla.q, &L.mla.kv_a, &L.mla.k_b, &L.mla.v_b, &L.mla.o});
      // kv_b is read row by row too (W_UK^T is built from it at load, done by now); its W_UV
      // rows are MatMul'd per head.
      ws.push_back(&L.mla.kv_b);
      ffn(L.dense);
      if (L.moe) {
        ws.push_back(&L.experts.router);
        for (FfnWeights& e : L.experts.experts) ffn(e);
        if (L.experts.has_shared) ffn(L.experts.shared);
      }
    }
    if (lm_head_.data != embed_.data) ws.push_back(&lm_head_);
    packed_ = PackedWeights::Pack(ws, lanes, /*drop_source=*/true, pool);
    if (packed_->matrices() > 0)
      QS_LOG_INFO("repacked %lld matrices (%.1f MiB) into %d-row groups", static_cast<long long>(packed_->matrices()),
                  static_cast<double>(packed_->bytes()) / (1 << 20), lanes);
    return Status::Ok();
  }

 private:
  // All chunks' tokens as one [T, hidden] activation matrix; attention sees per-sequence segments.
  Status Run(const std::vector<SeqChunk>& chunks, ThreadPool* pool, ForwardTrace* trace) {
    QS_RETURN_IF_ERROR(Prepare(pool));
    const auto& c = cfg_;
    const int64_t D = c.hidden_size;
    int64_t T = 0;
    segs_.clear();
    for (const SeqChunk& ch : chunks) {
      for (int64_t t = 0; t < ch.n; ++t)
        if (ch.tokens[t] < 0 || ch.tokens[t] >= c.vocab_size)
          return InvalidArgument("token id " + std::to_string(ch.tokens[t]) + " at position " + std::to_string(t) +
                                 " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
      for (const AttnSegment& sg : segs_)
        if (sg.cache == ch.cache) return InvalidArgument("ForwardBatch: two chunks share one KV cache");
      QS_RETURN_IF_ERROR(ch.cache->Reserve(ch.cache->size() + ch.n));
      segs_.push_back(AttnSegment{T, ch.n, ch.cache->size(), ch.cache});
      T += ch.n;
    }
    h_.resize(static_cast<size_t>(T * D));
    xn_.resize(static_cast<size_t>(T * D));
    y_.resize(static_cast<size_t>(T * D));
    for (size_t i = 0; i < chunks.size(); ++i)
      for (int64_t t = 0; t < chunks[i].n; ++t) DecodeRow(embed_, chunks[i].tokens[t], &h_[(segs_[i].t0 + t) * D]);
    const int64_t k = c.num_experts_per_tok;
    if (trace) {
      trace->hidden.clear();
      trace->experts.clear();
      trace->expert_weights.clear();
      trace->moe_layers.clear();
      if (trace->record_hidden) trace->hidden.insert(trace->hidden.end(), h_.begin(), h_.end());
    }
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
      Layer& L = layers_[l];
      for (int64_t t = 0; t < T; ++t) RmsNorm(&h_[t * D], L.attn_norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
      if (mla_) mla_->Forward(L.mla, xn_.data(), T, segs_, l, y_.data(), pool);
      else gqa_->Forward(L.gqa, xn_.data(), T, segs_, l, y_.data(), pool);
      for (int64_t i = 0; i < T * D; ++i) h_[i] += y_[i];
      for (int64_t t = 0; t < T; ++t) RmsNorm(&h_[t * D], L.ffn_norm.data(), D, c.rms_norm_eps, &xn_[t * D]);
      if (L.moe) {
        int32_t* ids = nullptr;
        float* wts = nullptr;
        if (trace) {
          trace->moe_layers.push_back(static_cast<int>(l));
          size_t off = trace->experts.size();
          trace->experts.resize(off + static_cast<size_t>(T * k));
          trace->expert_weights.resize(off + static_cast<size_t>(T * k));
          ids = &trace->experts[off];
          wts = &trace->expert_weights[off];
        }
        moe_.Forward(L.experts, xn_.data(), T, y_.data(), pool, ids, wts);
      } else {
        FfnForward(L.dense, xn_.data(), T, y_.data(), pool, &ffn_scratch_);
      }
      for (int64_t i = 0; i < T * D; ++i) h_[i] += y_[i];
      if (trace && trace->record_hidden) trace->hidden.insert(trace->hidden.end(), h_.begin(), h_.end());
    }
    for (const AttnSegment& sg : segs_) sg.cache->set_size(sg.pos0 + sg.n);
    // Logits only for the rows asked for (the head is the largest matrix of a small model:
    // prefill wants just the last position). Rows are gathered so the head runs once.
    rows_.clear();
    for (size_t i = 0; i < chunks.size(); ++i) {
      if (!chunks[i].logits) continue;
      const int64_t first = chunks[i].last_only ? chunks[i].n - 1 : 0;
      for (int64_t t = first; t < chunks[i].n; ++t) rows_.push_back(segs_[i].t0 + t);
    }
    if (rows_.empty()) return Status::Ok();
    const int64_t R = static_cast<int64_t>(rows_.size()), V = c.vocab_size;
    for (int64_t r = 0; r < R; ++r) RmsNorm(&h_[rows_[r] * D], final_norm_.data(), D, c.rms_norm_eps, &xn_[r * D]);
    const bool direct = chunks.size() == 1;  // write straight into the caller's buffer
    if (!direct) logits_.resize(static_cast<size_t>(R * V));
    float* dst = direct ? chunks[0].logits : logits_.data();
    MatMul(lm_head_, xn_.data(), R, dst, pool);
    if (!direct) {
      int64_t r = 0;
      for (const SeqChunk& ch : chunks) {
        if (!ch.logits) continue;
        const int64_t rows = ch.last_only ? 1 : ch.n;
        std::copy(&logits_[r * V], &logits_[(r + rows) * V], ch.logits);
        r += rows;
      }
    }
    return Status::Ok();
  }

  ModelConfig cfg_;
  std::unique_ptr<WeightSource> src_;
  WeightMatrix embed_, lm_head_;
  std::vector<float> final_norm_;
  std::vector<Layer> layers_;
  std::vector<std::string> mtp_tensors_;
  std::unique_ptr<MlaAttention> mla_;
  std::unique_ptr<GqaAttention> gqa_;
  MoeBlock moe_;
  bool prepared_ = false;
  std::unique_ptr<PackedWeights> packed_;
  std::vector<AttnSegment> segs_;
  std::vector<int64_t> rows_;
  std::vector<float> h_, xn_, y_, ffn_scratch_, logits_;  // [T, hidden] activations, reused
};

ModelInfo TransformerModel::Info() const {
  const auto& c = cfg_;
  ModelInfo info;
  info.architecture = c.architecture;
  info.format = src_->is_gguf() ? "gguf" : "safetensors";
  std::map<std::string, uint64_t> by_dtype;
  for (const WeightTensor& wt : src_->tensors()) {
    const std::string& n = wt.name;
    const WeightTensor* t = &wt;
    const uint64_t numel = static_cast<uint64_t>(t->numel());
    info.weight_bytes += t->nbytes;
    if (n == "rope_freqs.weight") continue;  // GGUF llama3 rope divisors, not a weight
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
    if (n.find(".mlp.experts.") != std::string::npos)
      info.n_params_active += numel * static_cast<uint64_t>(c.num_experts_per_tok) / static_cast<uint64_t>(c.n_routed_experts);
    else
      info.n_params_active += numel;
  }
  for (auto& [k, v] : by_dtype) info.dtype_params.emplace_back(k, v);
  const int64_t per_layer = mla_ ? mla_->cache_width() : 2 * gqa_->kv_width();
  info.kv_bytes_per_token = static_cast<uint64_t>(c.num_hidden_layers * per_layer) * sizeof(float);
  return info;
}

}  // namespace

Result<std::unique_ptr<Model>> MakeTransformer(const ModelConfig& c, std::unique_ptr<WeightSource> src) {
  auto m = std::make_unique<TransformerModel>(c, std::move(src));
  QS_RETURN_IF_ERROR(m->Load());
  return std::unique_ptr<Model>(std::move(m));
}

}  // namespace qs
