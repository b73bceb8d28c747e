// qiusuo info: what a model directory holds and what running it costs.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/log.h"
#include "cli/command.h"
#include "cli/common.h"
#include "io/gguf.h"
#include "convert/gguf_validate.h"
#include "model/model.h"
#include "runtime/model_package.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model;
  bool json = false, check = false;
  int64_t ctx = 4096;
};

std::string Human(uint64_t n) {
  char b[32];
  if (n >= 1000000000ull) std::snprintf(b, sizeof b, "%.2fB", n / 1e9);
  else if (n >= 1000000ull) std::snprintf(b, sizeof b, "%.2fM", n / 1e6);
  else if (n >= 1000ull) std::snprintf(b, sizeof b, "%.2fK", n / 1e3);
  else std::snprintf(b, sizeof b, "%llu", static_cast<unsigned long long>(n));
  return b;
}

// GGUF files first go through the project's validator (convert/gguf_validate.h): every problem is
// listed at once, not just the first one the loader trips on. The file is opened once.
int Run(const Opts& o) {
  auto format = ResolveModelPath(o.model);
  if (!format.ok()) return Fail(format.status());
  const bool check_only = o.check && *format == ModelFormat::kGguf;
  ModelPackageOptions po = ModelPackageOptions::ModelOnly();
  po.model = !check_only;
  po.inspect_gguf = [&](const GgufFile& g) {
    GgufValidation v = ValidateGgufModel(g);
    if (!o.json)
      for (const auto& w : v.warnings) std::fprintf(stderr, "warning: %s: %s\n", o.model.c_str(), w.c_str());
    return v.ok() ? Status::Ok() : v.ToStatus(o.model);
  };
  auto pkg = OpenModelPackage(o.model, po);
  if (!pkg.ok()) return Fail(pkg.status());
  if (check_only) {
    std::printf("%s: valid GGUF model file\n", o.model.c_str());
    return 0;
  }
  Model* model = pkg->model.get();
  const ModelConfig& c = model->config();
  ModelInfo info = model->Info();
  const uint64_t kv_ctx = info.kv_bytes_per_token * static_cast<uint64_t>(o.ctx);
  const uint64_t need = info.weight_bytes + kv_ctx + info.kv_bytes_fixed;
  if (o.json) {
    nlohmann::ordered_json j;
    j["architecture"] = info.architecture;
    j["model_type"] = c.model_type;
    j["format"] = info.format;
    j["vocab_size"] = c.vocab_size;
    j["hidden_size"] = c.hidden_size;
    j["num_hidden_layers"] = c.num_hidden_layers;
    j["num_attention_heads"] = c.num_attention_heads;
    j["attention"] = c.is_mla() ? "mla" : "gqa";
    if (c.is_mla()) {
      j["q_lora_rank"] = c.q_lora_rank;
      j["kv_lora_rank"] = c.kv_lora_rank;
      j["qk_nope_head_dim"] = c.qk_nope_head_dim;
      j["qk_rope_head_dim"] = c.qk_rope_head_dim;
      j["v_head_dim"] = c.v_head_dim;
    }
    if (c.index_topk > 0) {  // DeepSeek Sparse Attention (V3.2)
      j["index_n_heads"] = c.index_n_heads;
      j["index_head_dim"] = c.index_head_dim;
      j["index_topk"] = c.index_topk;
    }
    j["chat_family"] = info.chat_family;
    if (c.n_routed_experts > 0) {
      j["n_routed_experts"] = c.n_routed_experts;
      j["n_shared_experts"] = c.n_shared_experts;
      j["num_experts_per_tok"] = c.num_experts_per_tok;
      j["scoring_func"] = ToString(c.scoring_func);
      j["topk_method"] = ToString(c.topk_method);
      j["n_group"] = c.n_group;
      j["topk_group"] = c.topk_group;
      j["routed_scaling_factor"] = c.routed_scaling_factor;
      j["first_k_dense_replace"] = c.first_k_dense_replace;
    }
    j["rope_scaling"] = ToString(c.rope.scaling);
    j["params_total"] = info.n_params;
    j["params_active_per_token"] = info.n_params_active;
    j["params_mtp"] = info.n_params_mtp;
    j["mtp_modules"] = info.mtp_modules;
    j["mtp_loaded"] = info.mtp_loaded;
    j["kv_bytes_fixed"] = info.kv_bytes_fixed;
    nlohmann::ordered_json d;
    for (auto& [k, v] : info.dtype_params) d[k] = v;
    j["dtype_params"] = d;
    j["weight_bytes"] = info.weight_bytes;
    j["kv_bytes_per_token"] = info.kv_bytes_per_token;
    j["context"] = o.ctx;
    j["memory_bytes"] = need;
    std::printf("%s\n", j.dump(2).c_str());
    return 0;
  }
  std::printf("architecture      %s (%s)\n", info.architecture.c_str(), c.model_type.c_str());
  std::printf("layers            %lld, hidden %lld, heads %lld, vocab %lld\n", (long long)c.num_hidden_layers,
              (long long)c.hidden_size, (long long)c.num_attention_heads, (long long)c.vocab_size);
  if (c.is_mla())
    std::printf("attention         MLA: q_lora %lld, kv_lora %lld, nope %lld, rope %lld, v %lld\n",
                (long long)c.q_lora_rank, (long long)c.kv_lora_rank, (long long)c.qk_nope_head_dim,
                (long long)c.qk_rope_head_dim, (long long)c.v_head_dim);
  if (c.index_topk > 0)
    std::printf("sparse attention  lightning indexer: %lld heads x %lld, top-%lld keys per query\n",
                (long long)c.index_n_heads, (long long)c.index_head_dim, (long long)c.index_topk);
  if (c.n_routed_experts > 0)
    std::printf("experts           %lld routed (top-%lld, %s, %s, groups %lld/%lld, scale %.3g) + %lld shared; "
                "first %lld layers dense\n",
                (long long)c.n_routed_experts, (long long)c.num_experts_per_tok, ToString(c.scoring_func),
                ToString(c.topk_method), (long long)c.topk_group, (long long)c.n_group, c.routed_scaling_factor,
                (long long)c.n_shared_experts, (long long)c.first_k_dense_replace);
  std::printf("rope              theta %g, scaling %s", c.rope.theta, ToString(c.rope.scaling));
  if (c.rope.scaling == RopeScaling::kYarn)
    std::printf(" (factor %g, original %lld)", c.rope.factor, (long long)c.rope.original_max_position);
  std::printf("\n");
  std::printf("parameters        %s total, %s active per token", Human(info.n_params).c_str(),
              Human(info.n_params_active).c_str());
  if (info.n_params_mtp) std::printf(", %s in MTP layers", Human(info.n_params_mtp).c_str());
  // Whether speculative decoding with the model's own MTP module (Model::ForwardMtp) is possible.
  if (info.mtp_modules > 0)
    std::printf("\nMTP               %lld module%s, %s", (long long)info.mtp_modules, info.mtp_modules == 1 ? "" : "s",
                info.mtp_loaded == info.mtp_modules ? "loaded"
                : info.mtp_loaded > 0              ? "partly loaded"
                                                   : "not in the checkpoint (no speculative decoding)");
  std::printf("\ndtypes           ");
  for (auto& [k, v] : info.dtype_params) std::printf(" %s: %s", k.c_str(), Human(v).c_str());
  std::printf("\nweights           %s (%s, memory-mapped)\n", FormatBytes(static_cast<double>(info.weight_bytes)).c_str(),
              info.format.c_str());
  std::printf("KV cache          %s per token (%s)\n", FormatBytes(static_cast<double>(info.kv_bytes_per_token)).c_str(),
              !info.kv_cache_layout.empty() ? info.kv_cache_layout.c_str()
              : !c.is_mla()          ? "per-head K and V, fp32"
              : c.index_topk > 0 ? "fp32 latent (kv_lora_rank + qk_rope_head_dim) + indexer key (1 + index_head_dim) per layer"
                                 : "fp32 latent: kv_lora_rank + qk_rope_head_dim floats per layer");
  std::printf("memory needed     %s at %lld tokens of context\n", FormatBytes(static_cast<double>(need)).c_str(),
              (long long)o.ctx);
  return 0;
}

}  // namespace

QS_COMMAND(info, "info", "describe a model: architecture, parameters, dtypes, memory", [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model", o->model, "model directory (config.json + safetensors) or .gguf file")->required();
  app->add_flag("--json", o->json, "machine-readable output");
  app->add_flag("--check", o->check, "GGUF: only run the validator (exit status 0 when the file is valid)");
  app->add_option("--ctx", o->ctx, "context length for the memory estimate")->check(CLI::Range(1, 1 << 24));
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
