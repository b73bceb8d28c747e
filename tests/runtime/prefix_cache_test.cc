#include "runtime/prefix_cache.h"

#include <gtest/gtest.h>

namespace qs {
namespace {

// A cache whose rows hold their token id, so copies can be checked.
std::unique_ptr<KvCache> Filled(const std::vector<int32_t>& toks) {
  auto c = std::make_unique<KvCache>(2, 3, 1, 64);
  EXPECT_TRUE(c->Reserve(static_cast<int64_t>(toks.size())).ok());
  for (size_t i = 0; i < toks.size(); ++i)
    for (int l = 0; l < 2; ++l) {
      for (int j = 0; j < 3; ++j) c->k(l, static_cast<int64_t>(i))[j] = static_cast<float>(toks[i] * 10 + l);
      c->v(l, static_cast<int64_t>(i))[0] = static_cast<float>(toks[i]);
    }
  c->set_size(static_cast<int64_t>(toks.size()));
  return c;
}

TEST(PrefixCache, LongestCommonPrefixIsCopied) {
  PrefixCache pc(1 << 20);
  std::vector<int32_t> a = {1, 2, 3, 4, 5}, b = {1, 2, 9};
  pc.Insert(a, *Filled(a));
  pc.Insert(b, *Filled(b));
  KvCache dst(2, 3, 1, 64);
  EXPECT_EQ(pc.Lookup({1, 2, 3, 4, 7, 8}, 5, &dst), 4);
  ASSERT_EQ(dst.size(), 4);
  EXPECT_EQ(dst.k(1, 3)[2], 41.0f);
  EXPECT_EQ(dst.v(0, 2)[0], 3.0f);
  EXPECT_EQ(pc.Lookup({1, 2, 3, 4, 5}, 4, &dst), 4);  // capped by max_len
  EXPECT_EQ(pc.Lookup({7}, 1, &dst), 0);
}

TEST(PrefixCache, ExtensionReplacesPrefixEntry) {
  PrefixCache pc(1 << 20);
  std::vector<int32_t> a = {1, 2, 3}, b = {1, 2, 3, 4, 5};
  pc.Insert(a, *Filled(a));
  pc.Insert(b, *Filled(b));
  EXPECT_EQ(pc.entries(), 1u);
  pc.Insert(a, *Filled(a));  // covered by b
  EXPECT_EQ(pc.entries(), 1u);
}

TEST(PrefixCache, BudgetEvictsLeastRecentlyUsed) {
  const size_t per_token = KvCache(2, 3, 1, 1).bytes_per_token();
  PrefixCache pc(per_token * 8);  // room for 8 tokens
  std::vector<int32_t> a = {1, 1, 1}, b = {2, 2, 2}, c = {3, 3, 3};
  pc.Insert(a, *Filled(a));
  pc.Insert(b, *Filled(b));
  KvCache dst(2, 3, 1, 64);
  EXPECT_EQ(pc.Lookup({1, 1, 1, 5}, 3, &dst), 3);  // a is now most recent
  pc.Insert(c, *Filled(c));                         // evicts b
  EXPECT_EQ(pc.entries(), 2u);
  EXPECT_LE(pc.bytes(), pc.budget());
  EXPECT_EQ(pc.Lookup({2, 2, 2, 5}, 3, &dst), 0);
  EXPECT_EQ(pc.Lookup({1, 1, 1, 5}, 3, &dst), 3);
  std::vector<int32_t> big(20, 4);
  pc.Insert(big, *Filled(big));  // larger than the budget: not stored
  EXPECT_EQ(pc.Lookup(big, 19, &dst), 0);
}

// One client must not learn from prompt_cache_hit_tokens what another client's prompt began with:
// a lookup sees only its own namespace's entries, and an entry never replaces another
// namespace's.
TEST(PrefixCache, NamespacesAreSeparate) {
  PrefixCache pc(1 << 20);
  std::vector<int32_t> victim = {1, 2, 3, 4, 5};
  pc.Insert(victim, *Filled(victim), /*ns=*/7);
  KvCache dst(2, 3, 1, 64);
  EXPECT_EQ(pc.Lookup({1, 2, 3, 4, 9}, 5, &dst, /*ns=*/8), 0);
  EXPECT_EQ(pc.Lookup({1, 2, 3, 4, 9}, 5, &dst), 0);  // the default namespace is another one too
  EXPECT_EQ(pc.Lookup({1, 2, 3, 4, 9}, 5, &dst, 7), 4);
  std::vector<int32_t> longer = {1, 2, 3, 4, 5, 6};
  pc.Insert(longer, *Filled(longer), 8);  // extends the victim's entry, but in another namespace
  EXPECT_EQ(pc.entries(), 2u);
  EXPECT_EQ(pc.Lookup({1, 2, 3, 4, 5, 6, 0}, 6, &dst, 7), 5);
}

}  // namespace
}  // namespace qs
