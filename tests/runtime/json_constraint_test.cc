#include "runtime/json_constraint.h"

#include <gtest/gtest.h>

namespace qs {
namespace {

bool Valid(const std::string& s, bool* complete = nullptr) {
  JsonPrefixState st;
  bool ok = st.Feed(s);
  if (complete) *complete = ok && st.complete();
  return ok;
}

TEST(JsonPrefix, AcceptsValidObjectsAndPrefixes) {
  const std::string docs[] = {
      R"({})", R"({"a":1})", R"({"a": [1, 2.5, -3e+2, 0.0E1], "b": {"c": null, "d": true, "e": false}})",
      R"({"s": "x\"y\\z\u00e9\n", "t": []})", "{\n  \"k\" : \"v\"\n}", R"({"é中": "ü"})"};
  for (const auto& d : docs) {
    bool complete = false;
    EXPECT_TRUE(Valid(d, &complete)) << d;
    EXPECT_TRUE(complete) << d;
    for (size_t n = 0; n < d.size(); ++n) {
      bool c = true;
      EXPECT_TRUE(Valid(d.substr(0, n), &c)) << d.substr(0, n);
      EXPECT_FALSE(c) << d.substr(0, n);
    }
  }
}

TEST(JsonPrefix, RejectsInvalid) {
  const char* bad[] = {"[", "1", "\"a\"", "{a", "{\"a\" 1", "{\"a\":01", "{\"a\":1,}", "{\"a\":tru}", "{\"a\":1}}",
                       "{\"a\":1} x", "{\"a\":[1,]}", "{\"a\":\"\x01\"}", "{\"a\":\"\\q\"}", "{\"a\":-}", "{\"a\":1.}",
                       "{\"a\":[}", "{]", "{\"a\":1]"};
  for (const char* b : bad) EXPECT_FALSE(Valid(b)) << b;
}

TEST(JsonPrefix, WhitespaceIsBounded) {
  EXPECT_TRUE(Valid("{" + std::string(JsonPrefixState::kMaxWhitespace, ' ')));
  EXPECT_FALSE(Valid("{" + std::string(JsonPrefixState::kMaxWhitespace + 1, ' ')));
  EXPECT_TRUE(Valid("{\"" + std::string(200, ' ')));  // inside a string: any amount
}

TEST(JsonConstraint, MasksTokensAndEos) {
  auto vocab = std::make_shared<VocabBytes>();
  vocab->bytes = {"", "{", "}", "\"a\"", ":", "1", " x", "{\"", "a\":", "2}", "\n"};
  const int32_t eos = 0;
  JsonConstraint c(vocab, {eos});
  std::vector<uint8_t> m(vocab->bytes.size(), 1);
  c.Mask(&m);
  EXPECT_EQ(m, (std::vector<uint8_t>{0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1}));
  for (int32_t t : {7, 8}) {
    ASSERT_TRUE(c.Allows(t));
    c.Accept(t);
  }
  EXPECT_FALSE(c.Allows(eos));
  EXPECT_TRUE(c.Allows(9));
  c.Accept(9);
  EXPECT_TRUE(c.complete());
  m.assign(vocab->bytes.size(), 1);
  c.Mask(&m);
  EXPECT_EQ(m, (std::vector<uint8_t>{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}));  // only the end
}

}  // namespace
}  // namespace qs
