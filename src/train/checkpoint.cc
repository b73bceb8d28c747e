#include "train/checkpoint.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace qs::train {

namespace fs = std::filesystem;

namespace {

TensorToWrite F32(const std::string& name, const std::vector<int64_t>& shape, const float* data) {
  TensorToWrite t;
  t.name = name;
  t.dtype = DType::kF32;
  t.shape = shape;
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  t.bytes.resize(static_cast<size_t>(n) * 4);
  std::memcpy(t.bytes.data(), data, t.bytes.size());
  return t;
}

Status WriteText(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  if (!f) return IoError(p.string() + ": write failed");
  return Status::Ok();
}

}  // namespace

std::string ConfigJson(const ModelConfig& c) {
  nlohmann::ordered_json j;
  j["architectures"] = {c.architecture};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["moe_intermediate_size"] = c.moe_intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["n_shared_experts"] = c.n_shared_experts;
  j["n_routed_experts"] = c.n_routed_experts;
  j["routed_scaling_factor"] = c.routed_scaling_factor;
  j["kv_lora_rank"] = c.kv_lora_rank;
  if (c.q_lora_rank > 0) j["q_lora_rank"] = c.q_lora_rank;
  else j["q_lora_rank"] = nullptr;
  j["qk_rope_head_dim"] = c.qk_rope_head_dim;
  j["v_head_dim"] = c.v_head_dim;
  j["qk_nope_head_dim"] = c.qk_nope_head_dim;
  j["topk_method"] = "noaux_tc";
  j["n_group"] = c.n_group;
  j["topk_group"] = c.topk_group;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["moe_layer_freq"] = c.moe_layer_freq;
  j["first_k_dense_replace"] = c.first_k_dense_replace;
  j["norm_topk_prob"] = c.norm_topk_prob;
  j["scoring_func"] = "sigmoid";
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope.theta;
  j["rope_scaling"] = nullptr;
  j["tie_word_embeddings"] = false;
  j["bos_token_id"] = c.bos_token_id;
  j["eos_token_id"] = c.eos_token_id;
  j["torch_dtype"] = "float32";
  return j.dump(2) + "\n";
}

Result<ModelConfig> ReadTrainConfig(const std::string& dir) {
  QS_ASSIGN_OR_RETURN(ModelConfig c, LoadModelConfig((fs::path(dir) / "config.json").string()));
  QS_RETURN_IF_ERROR(CheckTrainConfig(c));
  return c;
}

Status SaveModel(const ModelConfig& c, const Layout& L, const std::vector<float>& w, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return IoError(dir + ": " + ec.message());
  std::vector<TensorToWrite> ts;
  for (const ParamInfo& p : L.params) ts.push_back(F32(p.name, p.shape, w.data() + p.offset));
  for (int64_t j = 0; j < static_cast<int64_t>(L.mtp.size()); ++j) {
    // The release stores the MTP module's embedding and head as copies of the shared ones.
    const std::string p = "model.layers." + std::to_string(c.num_hidden_layers + j) + ".";
    ts.push_back(F32(p + "embed_tokens.weight", {c.vocab_size, c.hidden_size}, w.data() + L.embed));
    ts.push_back(F32(p + "shared_head.head.weight", {c.vocab_size, c.hidden_size}, w.data() + L.head));
  }
  // Write to a temporary name first so an interrupted save never leaves a torn checkpoint.
  const fs::path st = fs::path(dir) / "model.safetensors", tmp = fs::path(dir) / "model.safetensors.tmp";
  QS_RETURN_IF_ERROR(WriteSafetensors(tmp.string(), ts));
  fs::rename(tmp, st, ec);
  if (ec) return IoError(st.string() + ": " + ec.message());
  QS_RETURN_IF_ERROR(WriteText(fs::path(dir) / "config.json", ConfigJson(c)));
  nlohmann::ordered_json gen;
  gen["bos_token_id"] = c.bos_token_id;
  gen["eos_token_id"] = c.eos_token_id;
  gen["do_sample"] = true;
  gen["temperature"] = 0.6;
  gen["top_p"] = 0.95;
  return WriteText(fs::path(dir) / "generation_config.json", gen.dump(2) + "\n");
}

Status LoadModelParams(const Layout& L, const std::string& dir, std::vector<float>* w) {
  const std::string path = (fs::path(dir) / "model.safetensors").string();
  QS_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(path));
  w->assign(static_cast<size_t>(L.total), 0.f);
  for (const ParamInfo& p : L.params) {
    const TensorView* t = f->Find(p.name);
    if (!t) return NotFound(path + ": no tensor " + p.name);
    if (t->dtype != DType::kF32 || t->shape != p.shape)
      return InvalidArgument(path + ": " + p.name + " is not f32 " + ShapeToString(p.shape));
    std::memcpy(w->data() + p.offset, t->data, static_cast<size_t>(p.size) * 4);
  }
  return Status::Ok();
}

Status SaveTrainState(const TrainState& s, const std::string& dir) {
  const int64_t n = static_cast<int64_t>(s.m.size());
  const fs::path st = fs::path(dir) / "train_state.safetensors", tmp = fs::path(dir) / "train_state.safetensors.tmp";
  QS_RETURN_IF_ERROR(WriteSafetensors(tmp.string(), {F32("adam.m", {n}, s.m.data()), F32("adam.v", {n}, s.v.data())}));
  std::error_code ec;
  fs::rename(tmp, st, ec);
  if (ec) return IoError(st.string() + ": " + ec.message());
  nlohmann::ordered_json j;
  j["step"] = s.step;
  j["tokens_seen"] = s.tokens_seen;
  j["options"] = nlohmann::json::parse(s.options_json.empty() ? "{}" : s.options_json);
  return WriteText(fs::path(dir) / "train_state.json", j.dump(2) + "\n");
}

Status LoadTrainState(const std::string& dir, int64_t total, TrainState* s) {
  const std::string jpath = (fs::path(dir) / "train_state.json").string();
  QS_ASSIGN_OR_RETURN(std::string text, ReadTextFile(jpath));
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.contains("step") || !j["step"].is_number_integer())
    return InvalidArgument(jpath + ": not a trainer state (no integer \"step\")");
  s->step = j["step"].get<int64_t>();
  s->tokens_seen = j.value("tokens_seen", int64_t{0});
  s->options_json = j.contains("options") ? j["options"].dump() : "{}";
  const std::string path = (fs::path(dir) / "train_state.safetensors").string();
  QS_ASSIGN_OR_RETURN(auto f, SafetensorsFile::Open(path));
  for (auto [name, dst] : {std::pair<const char*, std::vector<float>*>{"adam.m", &s->m}, {"adam.v", &s->v}}) {
    const TensorView* t = f->Find(name);
    if (!t || t->dtype != DType::kF32 || t->numel() != total)
      return InvalidArgument(path + ": " + name + " missing or not f32[" + std::to_string(total) + "]");
    dst->resize(static_cast<size_t>(total));
    std::memcpy(dst->data(), t->data, static_cast<size_t>(total) * 4);
  }
  return Status::Ok();
}

}  // namespace qs::train
