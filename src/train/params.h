// The trainable model's parameters: one flat buffer of weights and one of gradients (so AdamW,
// clipping and checkpoints walk a single array), each tensor a named slice under its Hugging Face
// name as DeepSeek releases them, so a checkpoint is a released-style HF directory that the
// engine's own loader reads (model/transformer.cc's tensor walk; a test compares the two lists).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/config.h"

namespace qs::train {

struct ParamInfo {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0, size = 0;
  bool trainable = true;  // false: the router's correction bias (moved by load, not by gradient)
  bool decay = true;      // weight decay: matrices only (not norms, not the bias)
  enum Init { kNormal, kOnes, kZeros } init = kNormal;
  double std = 0.02;
};

// Offsets into the flat buffers (the same offsets index weights and gradients).
struct FfnOff {
  int64_t gate = -1, up = -1, down = -1;  // [I, D], [I, D], [D, I]
  int64_t inter = 0;
};
struct MlaOff {
  int64_t q_a = -1, q_a_norm = -1, q_b = -1;  // [qlr, D], [qlr], [H*dqk, qlr]  (q LoRA)
  int64_t q_proj = -1;                        // [H*dqk, D]                     (no q LoRA)
  int64_t kv_a = -1, kv_a_norm = -1, kv_b = -1;  // [kvl+dr, D], [kvl], [H*(dn+dv), kvl]
  int64_t o = -1;                                // [D, H*dv]
};
struct MoeOff {
  int64_t router = -1, bias = -1;  // [E, D], [E]
  std::vector<FfnOff> experts;
  FfnOff shared;  // inter = moe_inter * n_shared (0: none)
};
struct LayerOff {
  int64_t attn_norm = -1, ffn_norm = -1;  // [D], [D]
  MlaOff mla;
  bool moe = false;
  FfnOff dense;
  MoeOff moe_w;
};
struct MtpOff {
  int64_t enorm = -1, hnorm = -1, eh_proj = -1, head_norm = -1;  // [D], [D], [D, 2D], [D]
  LayerOff layer;
};
struct Layout {
  int64_t embed = -1, norm = -1, head = -1;  // [V, D], [D], [V, D]
  std::vector<LayerOff> layers;
  std::vector<MtpOff> mtp;  // 0 or 1 module (the MTP embedding and head are the main ones)
  std::vector<ParamInfo> params;
  std::map<std::string, size_t> index;
  int64_t total = 0;
};

// Every parameter for config c, in the order of the released checkpoints. The MTP module's
// embed_tokens / shared_head.head are not separate parameters (V3 report §2.2 shares them with
// the main model); the checkpoint writer stores copies under their released names.
Layout BuildLayout(const ModelConfig& c);

// The config the trainer uses: DeepSeek-V3's choices (sigmoid scores, noaux_tc selection with a
// correction bias, normalised top-k weights, one MTP module) around the given dimensions.
struct Dims {
  int64_t vocab = 4096, hidden = 256, layers = 4, heads = 4, q_lora = 128, kv_lora = 64, nope = 32, rope = 16,
          v_dim = 32, inter = 768, moe_inter = 128, experts = 8, shared = 1, topk = 2, dense_layers = 1,
          max_pos = 512, mtp = 1;
};
ModelConfig MakeTrainConfig(const Dims& d);
Status CheckTrainConfig(const ModelConfig& c);

// Training FLOPs per token (forward + backward = 3x the forward's 2 FLOPs per multiply-add) at
// sequence length S: every matrix a token passes through (routed experts: the K selected; the
// head twice, main and MTP; not the embedding, a lookup) and causal attention (S/2 keys on
// average). For tokens/s -> FLOP/s and the share of the machine's peak.
double TrainFlopsPerToken(const ModelConfig& c, const Layout& L, int64_t S);

// Deterministic initial values (splitmix64 + Box-Muller; no library distribution whose output
// differs across standard libraries): normal(0, std) matrices, ones for norms, zero bias.
template <class T>
void InitParams(const Layout& L, uint64_t seed, std::vector<T>* w);

}  // namespace qs::train
