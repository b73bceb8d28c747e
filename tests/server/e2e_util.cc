#include "e2e_util.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "testutil.h"

namespace qs::test {

std::string MakeTinyModel(const std::string& dir, const std::string& chat_template_file, int vocab) {
  std::string fx = FixturesDir();
  if (fx.empty()) return "fixtures absent";
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/config.json") << R"({"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
    "vocab_size": )" << vocab << R"(, "hidden_size": 64, "intermediate_size": 128, "moe_intermediate_size": 32,
    "num_hidden_layers": 2, "first_k_dense_replace": 1, "n_routed_experts": 8, "num_experts_per_tok": 2,
    "n_shared_experts": 1, "n_group": 2, "topk_group": 1, "topk_method": "noaux_tc", "scoring_func": "sigmoid",
    "norm_topk_prob": true, "routed_scaling_factor": 2.5, "kv_lora_rank": 32, "q_lora_rank": 48,
    "qk_nope_head_dim": 16, "qk_rope_head_dim": 16, "v_head_dim": 16, "num_attention_heads": 2,
    "num_key_value_heads": 2, "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "rope_theta": 10000,
    "bos_token_id": 0, "eos_token_id": 1, "tie_word_embeddings": false, "moe_layer_freq": 1,
    "num_nextn_predict_layers": 0, "hidden_act": "silu"})";
  std::string out;
  std::string cmd = "'" + QiusuoBin() + "' synth --config '" + dir + "/config.json' --dtype f32 --seed 1 --tokenizer '" +
                    fx + "/tokenizer/deepseek-v3' --out '" + dir + "/m'";
  if (RunCommand(cmd, &out) != 0) return "synth failed: " + out;
  if (!chat_template_file.empty()) {
    std::error_code ec;
    std::filesystem::copy_file(chat_template_file, dir + "/m/chat_template.jinja",
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return "cannot copy " + chat_template_file;
  }
  return "";
}

std::string SharedTinyModel(const std::string& name, const std::string& chat_template_file, std::string* model_dir,
                            int vocab) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto stamp = fs::last_write_time(QiusuoBin(), ec).time_since_epoch().count();
  fs::path base = fs::temp_directory_path() / "qiusuo-tests" / ("e2e-model-" + name + "-" + std::to_string(stamp));
  *model_dir = (base / "m").string();
  if (fs::exists(base / "ready")) {
    fs::last_write_time(base / "ready", fs::file_time_type::clock::now(), ec);  // in use: keep it
    return "";
  }
  // Every rebuilt binary makes new models (~70 MB each): drop this name's copies that no test has
  // used for ten minutes (each test process touches its copy above, and none runs that long).
  for (const auto& e : fs::directory_iterator(base.parent_path(), ec)) {
    const std::string n = e.path().filename().string(), prefix = "e2e-model-" + name + "-";
    if (n.rfind(prefix, 0) != 0 || e.path() == base) continue;
    std::string stamp = n.substr(prefix.size());  // an integer, else another name ("v3-vocab128000")
    if (!stamp.empty() && stamp[0] == '-') stamp.erase(0, 1);
    if (stamp.empty() || stamp.find_first_not_of("0123456789") != std::string::npos) continue;
    auto t = fs::last_write_time(e.path() / "ready", ec);
    if (!ec && fs::file_time_type::clock::now() - t > std::chrono::minutes(10)) fs::remove_all(e.path(), ec);
  }
  std::string tmp = TempDir("e2e-build-" + name);
  std::string err = MakeTinyModel(tmp, chat_template_file, vocab);
  if (!err.empty()) return err;
  std::ofstream(tmp + "/ready") << "ok";
  fs::rename(tmp, base, ec);  // atomic; if another process won the race, use its copy
  if (ec) fs::remove_all(tmp, ec);
  return fs::exists(base / "ready") ? "" : "cannot create " + base.string();
}

bool ServerProcess::Start(const std::string& model, const std::vector<std::string>& args, std::string* error) {
  int fd[2];
  if (pipe(fd) != 0) {
    *error = "pipe";
    return false;
  }
  std::vector<std::string> argv = {QiusuoBin(), "serve", "--model", model, "--port", "0", "--threads", "1"};
  argv.insert(argv.end(), args.begin(), args.end());
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fd[1], 1);
    close(fd[0]);
    close(fd[1]);
    std::vector<char*> a;
    for (auto& s : argv) a.push_back(s.data());
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  close(fd[1]);
  std::string out;
  char buf[256];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (out.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    ssize_t n = read(fd[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd[0]);
  size_t p = out.rfind(':');
  if (out.find("listening on") == std::string::npos || p == std::string::npos) {
    *error = "server did not start: " + out;
    Stop();
    return false;
  }
  port_ = std::atoi(out.c_str() + p + 1);
  return port_ > 0;
}

void ServerProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 100; ++i) {  // 5 s, then kill
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

int ServerProcess::Wait(double timeout_s) {
  if (pid_ <= 0) return -1;
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  do {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < until);
  return -1;
}

SseResult ParseSse(const std::string& body) {
  SseResult r;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      r.error = "unterminated event: " + body.substr(pos);
      break;
    }
    std::string ev = body.substr(pos, end - pos);
    pos = end + 2;
    if (ev.rfind(":", 0) == 0) {
      r.keepalives++;
      continue;
    }
    if (ev.rfind("data: ", 0) != 0) {
      r.error = "not a data event: " + ev;
      break;
    }
    std::string data = ev.substr(6);
    if (data == "[DONE]") {
      r.done = true;
      continue;
    }
    if (r.done) {
      r.error = "event after [DONE]";
      break;
    }
    auto j = nlohmann::json::parse(data, nullptr, false);
    if (j.is_discarded()) {
      r.error = "bad JSON: " + data;
      break;
    }
    r.events.push_back(std::move(j));
  }
  return r;
}

}  // namespace qs::test
