// GGUF files with i-quant tensors load and run (issue 16): dense-golden llama-tiny's F32 GGUF
// rewritten with every matrix as IQ4_NL (IQ4_XS where rows are whole 256-blocks), encoded by a
// simple nearest-codebook encoder here (no i-quant writer exists yet, and a valid file is all this
// needs). The model must load, and its logits on the SIMD path (int8 i-quant tiles) must be as close
// to the golden as the file's exact value (scalar path: reference dequantizer, fp32 activations)
// plus the activation rounding llama.cpp itself adds on the Q8_0 file (as kquant_golden_test.cc).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "base/cpu.h"
#include "base/thread_pool.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "quant/fp16.h"
#include "quant/quant.h"
#include "testutil.h"

namespace qs {
namespace {

std::string Dense(const std::string& rel) { return test::FixturesDir() + "/dense-golden/" + rel; }

// Nearest entry of kIq4nlValues to v (in units of the block scale).
uint8_t NearestIq4(float v) {
  int best = 0;
  for (int i = 1; i < 16; ++i)
    if (std::fabs(kIq4nlValues[i] - v) < std::fabs(kIq4nlValues[best] - v)) best = i;
  return static_cast<uint8_t>(best);
}
// 32 values -> 16 nibble bytes (element j low nibble, j + 16 high), scale dl.
void Nibbles(const float* x, float dl, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) {
    const float a = dl != 0.f ? x[j] / dl : 0.f, b = dl != 0.f ? x[j + 16] / dl : 0.f;
    qs[j] = static_cast<uint8_t>(NearestIq4(a) | (NearestIq4(b) << 4));
  }
}
float AbsMax(const float* x, int n) {
  float m = 0;
  for (int i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}
std::vector<uint8_t> EncodeIq4Nl(const float* x, int64_t n) {
  std::vector<uint8_t> out(static_cast<size_t>(n / 32 * 18));
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint16_t h = F32ToF16(AbsMax(x + 32 * b, 32) / 127.f);
    std::memcpy(&out[18 * b], &h, 2);
    Nibbles(x + 32 * b, F16ToF32(h), &out[18 * b + 2]);
  }
  return out;
}
std::vector<uint8_t> EncodeIq4Xs(const float* x, int64_t n) {
  std::vector<uint8_t> out(static_cast<size_t>(n / 256 * 136), 0);
  for (int64_t s = 0; s < n / 256; ++s) {
    uint8_t* p = &out[136 * s];
    const float* xs = x + 256 * s;
    const uint16_t h = F32ToF16(AbsMax(xs, 256) / (127.f * 31.f));
    const float d = F16ToF32(h);
    std::memcpy(p, &h, 2);
    uint16_t sh = 0;
    for (int ib = 0; ib < 8; ++ib) {
      int l = d > 0 ? static_cast<int>(std::lround(AbsMax(xs + 32 * ib, 32) / (127.f * d))) : 0;
      l = std::min(31, std::max(0, l));
      const int ls = l + 32;
      p[4 + ib / 2] = static_cast<uint8_t>(p[4 + ib / 2] | ((ls & 0xF) << (4 * (ib % 2))));
      sh = static_cast<uint16_t>(sh | ((ls >> 4) << (2 * ib)));
      Nibbles(xs + 32 * ib, d * static_cast<float>(l), p + 8 + 16 * ib);
    }
    std::memcpy(p + 2, &sh, 2);
  }
  return out;
}

double MeanKl(const std::vector<float>& ours, const std::vector<float>& ref, int64_t V) {
  const int64_t T = static_cast<int64_t>(ref.size()) / V;
  double sum = 0;
  for (int64_t t = 0; t < T; ++t) {
    const float* a = &ours[t * V];
    const float* b = &ref[t * V];
    double ma = a[0], mb = b[0];
    for (int64_t i = 0; i < V; ++i) ma = std::max<double>(ma, a[i]), mb = std::max<double>(mb, b[i]);
    double za = 0, zb = 0;
    for (int64_t i = 0; i < V; ++i) za += std::exp(a[i] - ma), zb += std::exp(b[i] - mb);
    for (int64_t i = 0; i < V; ++i) {
      const double lb = b[i] - mb - std::log(zb), la = a[i] - ma - std::log(za);
      sum += std::exp(lb) * (lb - la);
    }
  }
  return sum;
}

// Mean KL vs the golden over all positions, `model` at ISA level `isa` (fresh load).
double RunKl(const std::string& path, const std::string& variant, Isa isa, bool llamacpp_q8 = false) {
  auto golden = nlohmann::json::parse(test::ReadFileOrDie(Dense(variant + "/golden/golden.json")));
  const Isa prev = SetIsaCap(isa);
  std::unique_ptr<Model> model;
  if (!llamacpp_q8) {
    auto m = LoadModel(path);
    EXPECT_TRUE(m.ok()) << m.status().message();
    if (!m.ok()) return 1e9;
    model = std::move(m).value();
  }
  ThreadPool pool(2);
  double kl = 0, positions = 0;
  for (const auto& c : golden["cases"]) {
    auto tokens = test::ReadI32File(Dense(variant + "/golden/" + c["files"]["tokens"].get<std::string>()));
    auto ref = test::ReadF32File(Dense(variant + "/golden/" + c["files"]["logits"].get<std::string>()));
    const int64_t T = static_cast<int64_t>(tokens.size()), V = static_cast<int64_t>(ref.size()) / T;
    std::vector<float> logits;
    if (llamacpp_q8) {
      logits = test::ReadF32File(Dense(variant + "/llamacpp/Q8_0." + c["name"].get<std::string>() + ".logits.f32"));
    } else {
      auto cache = model->NewCache(T);
      logits.resize(static_cast<size_t>(T * V));
      EXPECT_TRUE(model->Forward(tokens.data(), T, cache.get(), logits.data(), &pool).ok());
    }
    kl += MeanKl(logits, ref, V);
    positions += static_cast<double>(T);
  }
  SetIsaCap(prev);
  return kl / positions;
}

TEST(IQuantModel, Iq4FileLoadsAndRuns) {
  QS_REQUIRE_FIXTURES();
  if (Cpu().max_isa < Isa::kAvx2) GTEST_SKIP() << "no SIMD kernels on this CPU";
  const std::string variant = "llama-tiny";
  auto src = GgufFile::Open(Dense(variant + "/gguf/" + variant + "-F32.gguf"));
  ASSERT_TRUE(src.ok()) << src.status().message();
  const std::string out = test::TempDir("iquant-model") + "/llama-tiny-iq4.gguf";
  GgufWriter w((*src)->alignment());
  ASSERT_TRUE(w.CopyMetadata(**src).ok());
  struct T {
    std::string name;
    GgmlType type;
    std::vector<int64_t> ne;
    std::vector<uint8_t> bytes;
  };
  std::vector<T> all;
  int n_nl = 0, n_xs = 0;
  for (const auto& t : (*src)->tensors()) {
    T o{t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.nbytes)};
    if (t.type == GgmlType::F32 && t.ne.size() == 2 && t.ne[0] % 32 == 0) {
      const float* x = reinterpret_cast<const float*>(t.data);
      if (t.ne[0] % 256 == 0) o.type = GgmlType::IQ4_XS, o.bytes = EncodeIq4Xs(x, t.numel()), ++n_xs;
      else o.type = GgmlType::IQ4_NL, o.bytes = EncodeIq4Nl(x, t.numel()), ++n_nl;
    }
    all.push_back(std::move(o));
  }
  ASSERT_GT(n_nl, 0);
  ASSERT_GT(n_xs, 0);
  for (const auto& o : all) ASSERT_TRUE(w.AddTensor(o.name, o.type, o.ne).ok()) << o.name;
  ASSERT_TRUE(w.Begin(out).ok());
  for (const auto& o : all) ASSERT_TRUE(w.WriteTensor(o.name, o.bytes.data(), o.bytes.size()).ok()) << o.name;
  ASSERT_TRUE(w.Finish().ok());

  const double exact = RunKl(out, variant, Isa::kScalar);
  const double simd = RunKl(out, variant, Cpu().max_isa);
  const double lc = RunKl(out, variant, Isa::kScalar, /*llamacpp_q8=*/true);
  std::printf("[iquant-model] %s IQ4_NL x%d + IQ4_XS x%d: mean KL vs golden %.4g (scalar %.4g; llama.cpp Q8_0 %.4g)\n",
              variant.c_str(), n_nl, n_xs, simd, exact, lc);
  EXPECT_LT(exact, 0.1) << "a 4-bit file of this model should stay close to the golden";
  EXPECT_LE(simd, 1.05 * (exact + lc));
  std::filesystem::remove(out);
}

}  // namespace
}  // namespace qs
