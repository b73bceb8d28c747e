#include "convert/gguf_validate.h"

#include <algorithm>
#include <set>

#include "model/gguf_config.h"
#include "convert/gguf_export.h"

namespace qs {

namespace {

std::string NeString(const std::vector<int64_t>& ne) {
  std::string s = "{";
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? ", " : "") + std::to_string(ne[i]);
  return s + "}";
}

int64_t Numel(const std::vector<int64_t>& ne) {
  int64_t n = 1;
  for (auto x : ne) n *= x;
  return n;
}

}  // namespace

Status GgufValidation::ToStatus(const std::string& file) const {
  if (ok()) return Status::Ok();
  std::string m = file + ": invalid model file: ";
  for (size_t i = 0; i < errors.size(); ++i) m += (i ? "; " : "") + errors[i];
  return InvalidArgument(m);
}

GgufValidation ValidateGgufModel(const GgufFile& g) {
  GgufValidation v;
  auto err = [&](std::string m) { v.errors.push_back(std::move(m)); };

  // Layout: offsets aligned, data inside the file, no two tensors sharing bytes. (The parser
  // rejects these too; the validator states them for files built by other means.)
  std::vector<const GgufTensorInfo*> by_off;
  const uint64_t data_size = g.file_size() > g.data_offset() ? g.file_size() - g.data_offset() : 0;
  for (const auto& t : g.tensors()) {
    if (t.offset % g.alignment() != 0)
      err("tensor '" + t.name + "' data offset " + std::to_string(t.offset) + " is not a multiple of the alignment " +
          std::to_string(g.alignment()));
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      err("tensor '" + t.name + "' data runs past the end of the file");
    by_off.push_back(&t);
  }
  std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_off.size(); ++i)
    if (by_off[i - 1]->offset + by_off[i - 1]->nbytes > by_off[i]->offset)
      err("tensors '" + by_off[i - 1]->name + "' and '" + by_off[i]->name + "' overlap");

  auto cfg = ConfigFromGguf(g);
  if (!cfg.ok()) {
    err(cfg.status().message());
    return v;
  }
  const ModelConfig& c = *cfg;
  GgufFileType any{"any", 0, GgmlType::F32, false};
  auto plan = PlanGgufTensors(c, any);
  if (!plan.ok()) {
    err(plan.status().message());
    return v;
  }
  std::set<std::string> expected;
  for (const GgufPlanEntry& e : *plan) {
    expected.insert(e.name);
    const GgufTensorInfo* t = g.FindTensor(e.name);
    if (!t) {
      // Newer converters split deepseek2's attn_kv_b into per-head attn_k_b / attn_v_b.
      const std::string kvb = ".attn_kv_b.weight";
      if (e.name.size() > kvb.size() && e.name.compare(e.name.size() - kvb.size(), kvb.size(), kvb) == 0) {
        const std::string p = e.name.substr(0, e.name.size() - kvb.size());
        const GgufTensorInfo* kb = g.FindTensor(p + ".attn_k_b.weight");
        const GgufTensorInfo* vb = g.FindTensor(p + ".attn_v_b.weight");
        if (kb && vb) {
          expected.insert(kb->name);
          expected.insert(vb->name);
          const int64_t H = c.num_attention_heads;
          if (kb->numel() != H * c.qk_nope_head_dim * c.kv_lora_rank || vb->numel() != H * c.v_head_dim * c.kv_lora_rank)
            err("tensors '" + kb->name + "' / '" + vb->name + "' do not hold the kv_b_proj split the metadata implies");
          continue;
        }
      }
      err("tensor '" + e.name + "' is missing (the metadata implies ne " + NeString(e.ne) + ")");
      continue;
    }
    if (t->ne != e.ne) {
      // A 2-D tensor may be stored with trailing 1-dims dropped/added by some writers.
      if (Numel(t->ne) != Numel(e.ne) || t->ne[0] != e.ne[0])
        err("tensor '" + e.name + "' has ne " + NeString(t->ne) + " but the metadata implies " + NeString(e.ne));
      else if (t->ne.size() != e.ne.size())
        v.warnings.push_back("tensor '" + e.name + "' has ne " + NeString(t->ne) + ", expected " + NeString(e.ne));
      else
        err("tensor '" + e.name + "' has ne " + NeString(t->ne) + " but the metadata implies " + NeString(e.ne));
    }
    const bool vector_like = e.kind == GgufPlanEntry::Kind::kRopeFreqs || e.ne.size() == 1;
    if (vector_like && t->type != GgmlType::F32 && t->type != GgmlType::F16 && t->type != GgmlType::BF16)
      err("tensor '" + e.name + "' is " + GgmlTypeName(t->type) + "; 1-D tensors must be F32 (or F16/BF16)");
    if (e.kind == GgufPlanEntry::Kind::kRopeFreqs && t->type != GgmlType::F32)
      err("tensor 'rope_freqs.weight' must be F32, is " + std::string(GgmlTypeName(t->type)));
    if (GgmlTraits(t->type).block_size > 0 && t->ne[0] % GgmlTraits(t->type).block_size != 0)
      err("tensor '" + e.name + "' row length " + std::to_string(t->ne[0]) + " is not a multiple of the " +
          GgmlTypeName(t->type) + " block size");
  }
  for (const auto& t : g.tensors())
    if (!expected.count(t.name)) v.warnings.push_back("tensor '" + t.name + "' is not used by the model");
  if (!g.Find("general.file_type")) v.warnings.push_back("no general.file_type key");
  // llama.cpp takes n_vocab from the token list and requires token_embd to have that many rows.
  if (const GgufValue* toks = g.Find("tokenizer.ggml.tokens"); toks && toks->type == GgufValueType::kArray &&
                                                                static_cast<int64_t>(toks->array_len) != c.vocab_size)
    v.warnings.push_back("the tokenizer has " + std::to_string(toks->array_len) + " tokens but the model's vocabulary is " +
                         std::to_string(c.vocab_size) + " (llama.cpp requires them equal)");
  if (!g.Find("tokenizer.ggml.model"))
    v.warnings.push_back("no tokenizer (tokenizer.ggml.model): llama.cpp refuses to load such a file");
  return v;
}

}  // namespace qs
