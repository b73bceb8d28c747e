#include "cli/common.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>

namespace qs::cli {

namespace {
RuntimeConfig& RuntimeSlot() {
  static RuntimeConfig c;
  return c;
}
}  // namespace

const RuntimeConfig& Runtime() { return RuntimeSlot(); }
void SetRuntime(const RuntimeConfig& c) { RuntimeSlot() = c; }

void AddRuntimeFlags(CLI::App* app, RuntimeFlags* f) {
  app->add_option("--threads", f->threads, "compute threads for every command (env QIUSUO_THREADS; default: all cores)")
      ->check(CLI::Range(1, 4096));
  app->add_option("--isa", f->isa, "cap the kernels' instruction set (env QIUSUO_ISA)")
      ->check(CLI::IsMember({"scalar", "avx2", "avx512"}, CLI::ignore_case));
  app->add_flag("--no-repack", f->no_repack,
                "keep the file layout: instant load, slower kernels (env QIUSUO_REPACK=0)");
  app->add_option("--f16-prefill", f->f16_prefill,
                  "F16 prefill products: fp32, or bf16 on AVX512-BF16 (~2x, less exact) (env QIUSUO_F16_PREFILL)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
}

RuntimeConfig BuildRuntimeConfig(const RuntimeFlags& f) {
  RuntimeConfig c;
  auto env = [](const char* name) -> std::string {
    const char* e = std::getenv(name);
    return e ? e : "";
  };
  if (f.threads > 0) {
    c.threads = f.threads;
  } else if (std::string e = env("QIUSUO_THREADS"); !e.empty()) {
    c.threads = std::max(0, std::atoi(e.c_str()));
  }
  Isa isa;
  if (!f.isa.empty() && ParseIsa(f.isa, &isa)) {
    c.isa_cap = isa;
  } else if (std::string e = env("QIUSUO_ISA"); !e.empty()) {
    if (ParseIsa(e, &isa)) c.isa_cap = isa;
    else std::fprintf(stderr, "qiusuo: ignoring QIUSUO_ISA=%s (expected scalar, avx2 or avx512)\n", e.c_str());
  }
  if (f.no_repack) {
    c.repack = false;
  } else {
    std::string e = env("QIUSUO_REPACK");
    c.repack = !(e == "0" || e == "off");
  }
  std::string p = !f.f16_prefill.empty() ? f.f16_prefill : env("QIUSUO_F16_PREFILL");
  if (p == "bf16") c.f16_prefill_bf16 = true;
  else if (p == "fp32") c.f16_prefill_bf16 = false;
  else if (!p.empty()) std::fprintf(stderr, "qiusuo: ignoring QIUSUO_F16_PREFILL=%s (expected fp32 or bf16)\n", p.c_str());
  return c;
}

Result<std::string> ResolveApiKey(const std::string& flag_key, const std::string& key_file) {
  if (!flag_key.empty() && !key_file.empty()) return InvalidArgument("give --api-key or --api-key-file, not both");
  if (!flag_key.empty()) return flag_key;
  if (!key_file.empty()) {
    std::ifstream f(key_file, std::ios::binary);
    if (!f) return IoError("cannot read --api-key-file " + key_file);
    std::string key;
    std::getline(f, key);  // the first line, without its '\n'
    if (!key.empty() && key.back() == '\r') key.pop_back();
    if (key.empty()) return InvalidArgument("--api-key-file " + key_file + " holds no key on its first line");
    return key;
  }
  const char* e = std::getenv("QIUSUO_API_KEY");
  return std::string(e ? e : "");
}

Result<std::vector<int32_t>> ParseIdList(const std::string& s) {
  std::vector<int32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '\n' || s[i] == '\t')) ++i;
    if (i >= s.size()) break;
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    if (j == i || j - i > 10) return InvalidArgument("--tokens/--ids: '" + s.substr(i, 12) + "' is not a token id");
    long long v = std::strtoll(s.substr(i, j - i).c_str(), nullptr, 10);
    if (v > INT32_MAX) return InvalidArgument("--tokens/--ids: " + s.substr(i, j - i) + " is too large");
    out.push_back(static_cast<int32_t>(v));
    i = j;
    if (i < s.size() && s[i] != ',' && s[i] != ' ' && s[i] != '\n' && s[i] != '\t')
      return InvalidArgument("--tokens/--ids: unexpected character '" + std::string(1, s[i]) + "'");
  }
  return out;
}

int Fail(const Status& st) {
  std::fprintf(stderr, "qiusuo: error: %s\n", st.message().c_str());
  return 1;
}

}  // namespace qs::cli
