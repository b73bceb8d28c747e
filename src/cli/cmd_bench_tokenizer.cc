// qiusuo bench-tokenizer: encode throughput (MB/s, tokens/s) on a mixed English / Chinese / code
// text, generated deterministically (or read from --file). Reports a cold pass (empty word cache)
// and warm passes, single-threaded.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/common.h"
#include "io/mapped_file.h"
#include "tokenizer/tokenizer.h"

namespace qs::cli {
namespace {

struct Opts {
  std::string model, file;
  double mb = 2.0;
  int repeat = 3;
  bool special = false;
};

// Small deterministic generator (xorshift), so runs are comparable across machines.
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  size_t Below(size_t n) { return static_cast<size_t>(Next() % n); }
};

// About one third each of English prose, Chinese prose and source code, with numbers and
// whitespace runs, drawn from word lists so the word cache sees a realistic (Zipf-ish) mix.
std::string MixedText(size_t bytes) {
  static const char* kEn[] = {
      "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
      "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you",
      "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will",
      "would", "who", "so", "no", "model", "inference", "tokenizer", "attention", "expert", "latency",
      "throughput", "memory", "bandwidth", "quantization", "language", "sequence", "probability", "gradient",
      "mountain", "river", "library", "government", "experiment", "beautiful", "understanding", "however",
      "don't", "it's", "we've", "they'll", "I'm", "you'd", "Hello", "World", "DeepSeek", "Transformer"};
  static const char* kZh[] = {
      "我们", "的", "是", "在", "人工智能", "模型", "推理", "数据", "中国", "发展", "技术", "研究", "一个",
      "没有", "时候", "问题", "世界", "经济", "文化", "学习", "语言", "计算机", "网络", "系统", "方法",
      "今天", "天气", "很好", "春眠不觉晓", "处处闻啼鸟", "夜来风雨声", "花落知多少", "因为", "所以",
      "但是", "如果", "可以", "需要", "进行", "通过", "分析", "结果", "表明", "重要", "影响", "社会"};
  static const char* kZhPunct[] = {"，", "。", "、", "；", "：", "！", "？", "（", "）", "「", "」"};
  static const char* kCode[] = {
      "def forward(self, x):\n        return self.proj(x) * scale\n",
      "for (int i = 0; i < n; ++i) {\n    sum += a[i] * b[i];\n}\n",
      "if (err != nullptr) {\n\treturn Status::Error(\"bad input\");\n}\n",
      "const auto& [key, value] = *it;\n", "x = np.zeros((batch, seq_len, hidden), dtype=np.float32)\n",
      "SELECT id, name FROM users WHERE age > 30 ORDER BY name;\n",
      "{\"name\": \"qiusuo\", \"version\": \"0.1.0\", \"layers\": 61}\n",
      "    let v: Vec<u32> = (0..n).map(|i| i * 2).collect();\n", "<div class=\"row\"><span>{{ title }}</span></div>\n",
      "all: build\n\tcmake --build build -j2\n"};
  Rng rng;
  std::string out;
  out.reserve(bytes + 256);
  while (out.size() < bytes) {
    switch (rng.Below(3)) {
      case 0: {  // an English sentence
        size_t n = 6 + rng.Below(18);
        for (size_t i = 0; i < n; ++i) {
          out += (i ? " " : "");
          out += kEn[rng.Below(std::size(kEn))];
          if (rng.Below(12) == 0) out += " " + std::to_string(rng.Below(100000));
        }
        out += rng.Below(4) ? ". " : ",\n";
        break;
      }
      case 1: {  // a Chinese sentence
        size_t n = 4 + rng.Below(14);
        for (size_t i = 0; i < n; ++i) {
          out += kZh[rng.Below(std::size(kZh))];
          if (rng.Below(5) == 0) out += kZhPunct[rng.Below(std::size(kZhPunct))];
        }
        out += "。\n";
        break;
      }
      default:  // code
        out += kCode[rng.Below(std::size(kCode))];
        break;
    }
  }
  return out;
}

int Run(const Opts& o) {
  auto tok = Tokenizer::Load(o.model);
  if (!tok.ok()) return Fail(tok.status());
  std::string text;
  if (!o.file.empty()) {
    auto r = ReadTextFile(o.file);
    if (!r.ok()) return Fail(r.status());
    text = std::move(r).value();
  } else {
    text = MixedText(static_cast<size_t>(o.mb * 1024 * 1024));
  }
  const double mb = static_cast<double>(text.size()) / (1024.0 * 1024.0);
  std::printf("tokenizer: %s\ntext: %.2f MB (%s)\n", (*tok)->source().c_str(), mb,
              o.file.empty() ? "generated English/Chinese/code mix" : o.file.c_str());
  for (int pass = 0; pass < 1 + std::max(0, o.repeat); ++pass) {
    auto t0 = std::chrono::steady_clock::now();
    auto ids = (*tok)->Encode(text, o.special, false);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!ids.ok()) return Fail(ids.status());
    std::printf("%s: %8.2f MB/s  %10.0f tokens/s  (%zu tokens, %.3f s, %.2f bytes/token)\n",
                pass == 0 ? "encode cold" : "encode warm", mb / s, ids->size() / s, ids->size(), s,
                static_cast<double>(text.size()) / std::max<size_t>(1, ids->size()));
    if (pass == 0) {  // decode once, for completeness
      auto d0 = std::chrono::steady_clock::now();
      std::string back = (*tok)->Decode(*ids);
      double ds = std::chrono::duration<double>(std::chrono::steady_clock::now() - d0).count();
      std::printf("decode     : %8.2f MB/s  %10.0f tokens/s  (round trip %s)\n", mb / ds, ids->size() / ds,
                  back == text ? "exact" : "differs (normalizer)");
    }
  }
  return 0;
}

}  // namespace

QS_COMMAND(bench_tokenizer, "bench-tokenizer", "Tokenizer throughput (MB/s, tokens/s)", [](CLI::App* app) {
  auto o = std::make_shared<Opts>();
  app->add_option("--model", o->model, "model directory, tokenizer.json or .gguf")->required();
  app->add_option("--file", o->file, "text file to encode (default: generated mixed text)");
  app->add_option("--mb", o->mb, "size of the generated text in MiB")->check(CLI::Range(0.01, 1024.0));
  app->add_option("--repeat", o->repeat, "warm passes after the cold one")->check(CLI::Range(0, 100));
  app->add_flag("--special", o->special, "parse special tokens");
  return [o] { return Run(*o); };
});

}  // namespace qs::cli
