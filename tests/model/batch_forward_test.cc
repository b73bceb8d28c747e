// ForwardBatch (continuous batching) must give what separate Forward calls give: sequences of
// different lengths at different positions, prompt chunks mixed with single decode tokens, MLA
// and GQA models, logits for all rows or the last only.
#include <gtest/gtest.h>

#include <cmath>

#include "base/thread_pool.h"
#include "model/model.h"
#include "testutil.h"

namespace qs {
namespace {

void CheckBatchEqualsSeparate(const std::string& path) {
  auto m = LoadModel(path);
  ASSERT_TRUE(m.ok()) << m.status().message();
  Model& model = **m;
  ThreadPool pool(2);
  const int64_t V = model.config().vocab_size;
  // Three sequences: a long prompt, a short one, one that will decode token by token.
  std::vector<std::vector<int32_t>> seqs = {{1, 5, 9, 13, 17, 21, 25, 29, 33}, {2, 4, 6}, {7, 3, 11, 19}};
  for (auto& s : seqs)
    for (auto& t : s) t %= static_cast<int32_t>(V);
  // Reference: each sequence alone, all logits.
  std::vector<std::vector<float>> ref;
  for (auto& s : seqs) {
    auto cache = model.NewCache(64);
    std::vector<float> l(s.size() * V);
    ASSERT_TRUE(model.Forward(s.data(), static_cast<int64_t>(s.size()), cache.get(), l.data(), &pool).ok());
    ref.push_back(l);
  }
  // Batched: step 1 = seq0[0..5) + seq1[0..3) + seq2[0..1); step 2 = seq0[5..9) (last only) +
  // seq2[1]; step 3 = seq2[2], step 4 = seq2[3] alone.
  std::vector<std::unique_ptr<KvCache>> caches;
  for (size_t i = 0; i < seqs.size(); ++i) caches.push_back(model.NewCache(64));
  std::vector<float> l0(5 * V), l1(3 * V), l2(V), l0b(V), l2b(V);
  std::vector<SeqChunk> step1 = {{seqs[0].data(), 5, caches[0].get(), l0.data(), false},
                                 {seqs[1].data(), 3, caches[1].get(), l1.data(), false},
                                 {seqs[2].data(), 1, caches[2].get(), l2.data(), false}};
  ASSERT_TRUE(model.ForwardBatch(step1, &pool).ok());
  std::vector<SeqChunk> step2 = {{seqs[0].data() + 5, 4, caches[0].get(), l0b.data(), true},
                                 {seqs[2].data() + 1, 1, caches[2].get(), l2b.data(), false}};
  ASSERT_TRUE(model.ForwardBatch(step2, &pool).ok());
  auto near = [&](const float* a, const float* b, int64_t n, const char* what) {
    float m = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
    // Same arithmetic per row except for how rows are grouped in the matmuls: fp32 noise only.
    EXPECT_LE(m, 2e-5f) << path << " " << what;
  };
  near(l0.data(), ref[0].data(), 5 * V, "seq0 chunk 1");
  near(l1.data(), ref[1].data(), 3 * V, "seq1");
  near(l2.data(), ref[2].data(), V, "seq2 token 0");
  near(l0b.data(), ref[0].data() + 8 * V, V, "seq0 last of chunk 2");
  near(l2b.data(), ref[2].data() + 1 * V, V, "seq2 token 1");
  EXPECT_EQ(caches[0]->size(), 9);
  EXPECT_EQ(caches[1]->size(), 3);
  EXPECT_EQ(caches[2]->size(), 2);
  // A chunk list naming one cache twice is refused.
  std::vector<SeqChunk> dup = {{seqs[1].data(), 1, caches[1].get(), nullptr, false},
                               {seqs[1].data(), 1, caches[1].get(), nullptr, false}};
  EXPECT_FALSE(model.ForwardBatch(dup, &pool).ok());
}

TEST(ForwardBatch, MlaMoeModelMatchesSeparateForwards) {
  QS_REQUIRE_FIXTURES();
  CheckBatchEqualsSeparate(test::FixturesDir() + "/deepseek-golden/v3-tiny/checkpoint");
}

TEST(ForwardBatch, GqaModelMatchesSeparateForwards) {
  QS_REQUIRE_FIXTURES();
  CheckBatchEqualsSeparate(test::FixturesDir() + "/dense-golden/qwen2-tiny/checkpoint");
}

}  // namespace
}  // namespace qs
