// GGUF model-file layouts and hostile variants, built by rewriting the fixture deepseek2 GGUF
// (dense-golden/deepseek2-v2lite-tiny) with our GGUF writer:
//  * the newer llama.cpp deepseek2 layout (attn_kv_b split into attn_k_b / attn_v_b, MQA-style
//    key_length plus *_mla keys) must give the same logits as the combined layout;
//  * wrong shapes, missing tensors, unknown architectures: clear errors naming file and tensor.
#include <gtest/gtest.h>

#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <functional>

#include "base/thread_pool.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "model/model.h"
#include "testutil.h"

namespace qs {
namespace {

std::string V2LiteGguf() { return test::FixturesDir() + "/dense-golden/deepseek2-v2lite-tiny/v2lite-tiny-F32.gguf"; }

// Copies `src` to `out`, letting `edit` change metadata and replace tensors. `tensor_fn` returns
// the tensors to write in place of one source tensor (name, type, ne, bytes); empty = drop it.
struct OutTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;
  std::vector<uint8_t> bytes;
};
using TensorFn = std::function<std::vector<OutTensor>(const GgufTensorInfo&)>;

void Rewrite(const GgufFile& src, const std::string& out, const std::function<void(GgufWriter&)>& meta,
             const TensorFn& fn) {
  GgufWriter w(src.alignment());
  ASSERT_TRUE(w.CopyMetadata(src).ok());
  meta(w);
  std::vector<OutTensor> all;
  for (const auto& t : src.tensors())
    for (auto& o : fn(t)) all.push_back(std::move(o));
  for (const auto& o : all) ASSERT_TRUE(w.AddTensor(o.name, o.type, o.ne).ok()) << o.name;
  ASSERT_TRUE(w.Begin(out).ok());
  for (const auto& o : all) ASSERT_TRUE(w.WriteTensor(o.name, o.bytes.data(), o.bytes.size()).ok()) << o.name;
  ASSERT_TRUE(w.Finish().ok());
}

OutTensor Same(const GgufTensorInfo& t) { return {t.name, t.type, t.ne, std::vector<uint8_t>(t.data, t.data + t.nbytes)}; }

std::vector<float> Logits(const std::string& path, const std::vector<int32_t>& tokens) {
  auto m = LoadModel(path);
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return {};
  ThreadPool pool(2);
  const int64_t T = static_cast<int64_t>(tokens.size());
  auto cache = (*m)->NewCache(T);
  std::vector<float> logits(static_cast<size_t>(T * (*m)->config().vocab_size));
  EXPECT_TRUE((*m)->Forward(tokens.data(), T, cache.get(), logits.data(), &pool).ok());
  return logits;
}

TEST(GgufDeepSeek2, SplitKbVbLayoutMatchesCombined) {
  QS_REQUIRE_FIXTURES();
  auto src = GgufFile::Open(V2LiteGguf());
  ASSERT_TRUE(src.ok()) << src.status().message();
  const GgufFile& g = **src;
  const int64_t H = g.GetInt("deepseek2.attention.head_count").value(), kvl = g.GetInt("deepseek2.attention.kv_lora_rank").value();
  const int64_t rope = g.GetInt("deepseek2.rope.dimension_count").value(), klen = g.GetInt("deepseek2.attention.key_length").value();
  const int64_t dv = g.GetInt("deepseek2.attention.value_length").value(), dn = klen - rope;
  const std::string out = test::TempDir("gguf-split") + "/split.gguf";
  Rewrite(
      g, out,
      [&](GgufWriter& w) {  // convert_hf_to_gguf.py after llama.cpp's MLA change
        w.SetU32("deepseek2.attention.key_length", static_cast<uint32_t>(kvl + rope));
        w.SetU32("deepseek2.attention.value_length", static_cast<uint32_t>(kvl));
        w.SetU32("deepseek2.attention.key_length_mla", static_cast<uint32_t>(klen));
        w.SetU32("deepseek2.attention.value_length_mla", static_cast<uint32_t>(dv));
        w.SetU32("deepseek2.attention.head_count_kv", 1);
      },
      [&](const GgufTensorInfo& t) -> std::vector<OutTensor> {
        if (t.name.find("attn_kv_b") == std::string::npos) return {Same(t)};
        // kv_b: row-major [H, dn + dv, kvl] -> k_b [H, kvl, dn] (transposed), v_b [H, dv, kvl].
        const float* kv = reinterpret_cast<const float*>(t.data);
        std::vector<float> kb(static_cast<size_t>(H * kvl * dn)), vb(static_cast<size_t>(H * dv * kvl));
        for (int64_t h = 0; h < H; ++h) {
          for (int64_t d = 0; d < dn; ++d)
            for (int64_t c = 0; c < kvl; ++c) kb[(h * kvl + c) * dn + d] = kv[(h * (dn + dv) + d) * kvl + c];
          for (int64_t d = 0; d < dv; ++d)
            for (int64_t c = 0; c < kvl; ++c) vb[(h * dv + d) * kvl + c] = kv[(h * (dn + dv) + dn + d) * kvl + c];
        }
        std::string layer = t.name.substr(0, t.name.find("attn_kv_b"));
        auto bytes = [](const std::vector<float>& v) {
          const uint8_t* p = reinterpret_cast<const uint8_t*>(v.data());
          return std::vector<uint8_t>(p, p + v.size() * 4);
        };
        return {{layer + "attn_k_b.weight", GgmlType::F32, {dn, kvl, H}, bytes(kb)},
                {layer + "attn_v_b.weight", GgmlType::F32, {kvl, dv, H}, bytes(vb)}};
      });
  const std::string gold = test::FixturesDir() + "/deepseek-golden/v2lite-tiny/golden/";
  auto tokens = test::ReadI32File(gold + "len33.tokens.i32");
  auto ref = test::ReadF32File(gold + "len33.logits.f32");
  auto ours = Logits(out, tokens);
  ASSERT_EQ(ours.size(), ref.size());
  float m = 0;
  for (size_t i = 0; i < ref.size(); ++i) m = std::max(m, std::fabs(ours[i] - ref[i]));
  EXPECT_LE(m, 1e-4f);
}

// Rewrites the fixture with one change and expects LoadModel to fail mentioning `expect`.
void ExpectLoadError(const std::string& tag, const std::function<void(GgufWriter&)>& meta, const TensorFn& fn,
                     const std::string& expect) {
  auto src = GgufFile::Open(V2LiteGguf());
  ASSERT_TRUE(src.ok());
  const std::string out = test::TempDir("gguf-bad-" + tag) + "/bad.gguf";
  Rewrite(**src, out, meta, fn);
  auto m = LoadModel(out);
  ASSERT_FALSE(m.ok()) << tag;
  EXPECT_NE(m.status().message().find(expect), std::string::npos) << tag << ": " << m.status().message();
  EXPECT_NE(m.status().message().find("bad.gguf"), std::string::npos) << tag << ": " << m.status().message();
}

TEST(GgufModelErrors, NameTheFileAndTensor) {
  QS_REQUIRE_FIXTURES();
  auto keep = [](const GgufTensorInfo& t) { return std::vector<OutTensor>{Same(t)}; };
  auto nometa = [](GgufWriter&) {};
  ExpectLoadError("missing", nometa, [](const GgufTensorInfo& t) {
    return t.name == "blk.1.attn_output.weight" ? std::vector<OutTensor>{} : std::vector<OutTensor>{Same(t)};
  }, "blk.1.attn_output.weight");
  ExpectLoadError("shape", [](GgufWriter& w) { w.SetU32("deepseek2.embedding_length", 96); }, keep, "token_embd.weight");
  ExpectLoadError("arch", [](GgufWriter& w) { w.SetString("general.architecture", "mamba"); }, keep, "mamba");
  ExpectLoadError("experts", nometa, [](const GgufTensorInfo& t) {
    if (t.name != "blk.1.ffn_up_exps.weight") return std::vector<OutTensor>{Same(t)};
    OutTensor o = Same(t);  // 15 experts instead of 16
    o.ne[2] -= 1;
    o.bytes.resize(o.bytes.size() / 16 * 15);
    return std::vector<OutTensor>{o};
  }, "ffn_up_exps");
  ExpectLoadError("gating", [](GgufWriter& w) { w.SetU32("deepseek2.expert_gating_func", 7); }, keep,
                  "expert_gating_func");
}

// A hostile expert count must be refused from the metadata alone: blocks hold one FfnWeights per
// expert and are built before any tensor is checked, so 10^7 experts used to take minutes and ~1 GB.
TEST(GgufModelErrors, HostileExpertCountFailsFastWithBoundedMemory) {
  QS_REQUIRE_FIXTURES();
  auto keep = [](const GgufTensorInfo& t) { return std::vector<OutTensor>{Same(t)}; };
  auto peak_kb = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<long>(u.ru_maxrss);
  };
  const long before = peak_kb();
  auto t0 = std::chrono::steady_clock::now();
  ExpectLoadError("experts-1e7", [](GgufWriter& w) { w.SetU32("deepseek2.expert_count", 10000000); }, keep,
                  "n_routed_experts = 10000000 is out of range");
  // Within the bound but not what the file holds: the stacked expert tensors' shapes disagree.
  ExpectLoadError("experts-60000", [](GgufWriter& w) {
    w.SetU32("deepseek2.expert_count", 60000);
    w.SetU32("deepseek2.expert_group_count", 1);
    w.SetU32("deepseek2.expert_group_used_count", 1);
  }, keep, "ffn_");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 2.0) << "two rewrites and two refused loads";
  EXPECT_LT(peak_kb() - before, 200L * 1024) << "peak RSS grew by " << (peak_kb() - before) << " KiB";
}

}  // namespace
}  // namespace qs
