// JSON mode: the byte-level recogniser of JSON-object prefixes, and the constraint that masks tokens with it.
#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "serve/json_object_constraint.h"
#include "serve/json_prefix.h"

namespace glmq::serve {
namespace {

// How many bytes are accepted before the first rejection (text.size() when all are).
std::size_t accepted(std::string_view text, bool* complete = nullptr) {
  JsonPrefix p;
  std::size_t n = 0;
  while (n < text.size() && p.push(static_cast<unsigned char>(text[n]))) ++n;
  if (complete) *complete = p.complete();
  return n;
}

TEST(JsonPrefix, AcceptsObjectsAndEveryPrefixOfThem) {
  const std::string objects[] = {
      R"({})",
      R"({"a": 1} )",
      R"({"s": "x\"y\\z\u00e9\n", "n": -0.5e+10, "i": 120, "z": 0, "t": true, "f": false, "u": null})",
      R"({"nested": {"list": [1, [2, {"k": []}], "three", {}], "e": 1E3}, "empty": ""})",
      "{\"utf8\": \"caf\xc3\xa9 \xe2\x82\xac\"}",
  };
  for (const auto& text : objects) {
    ASSERT_FALSE(nlohmann::json::parse(text).is_discarded()) << text;
    JsonPrefix p;
    const std::size_t end = text.find_last_of('}');
    for (std::size_t i = 0; i < text.size(); ++i) {
      ASSERT_TRUE(p.push(static_cast<unsigned char>(text[i]))) << text << " at byte " << i;
      EXPECT_EQ(p.complete(), i >= end) << text << " at byte " << i;
    }
  }
}

TEST(JsonPrefix, RejectsAtTheFirstImpossibleByte) {
  EXPECT_EQ(accepted("[1]"), 0u);          // JSON mode asks for an object
  EXPECT_EQ(accepted(" {}"), 0u);          // ... right away
  EXPECT_EQ(accepted("{" + std::string(20, ' ') + "}"), 17u);  // and bounds runs of blanks
  const std::string blank_key = "{\"" + std::string(20, ' ') + "\": 1}";
  EXPECT_EQ(accepted(blank_key), blank_key.size());  // (not inside strings)
  EXPECT_EQ(accepted("hello"), 0u);
  EXPECT_EQ(accepted("{a: 1}"), 1u);       // keys are strings
  EXPECT_EQ(accepted("{\"a\" 1}"), 5u);    // a colon must follow the key
  EXPECT_EQ(accepted("{\"a\": 01}"), 7u);  // no leading zeros
  EXPECT_EQ(accepted("{\"a\": -}"), 7u);
  EXPECT_EQ(accepted("{\"a\": 1.}"), 8u);
  EXPECT_EQ(accepted("{\"a\": tru }"), 9u);
  EXPECT_EQ(accepted("{\"a\": \"\\x\"}"), 8u);
  EXPECT_EQ(accepted("{\"a\": \"\\u12g4\"}"), 11u);
  EXPECT_EQ(accepted("{\"a\": \"line\nbreak\"}"), 11u);  // raw control characters are not allowed in strings
  EXPECT_EQ(accepted("{\"a\": [1, 2}"), 11u);             // brackets must match
  EXPECT_EQ(accepted("{\"a\": 1,}"), 8u);                 // no trailing commas
  bool complete = false;
  EXPECT_EQ(accepted("{} x", &complete), 3u);             // nothing but blanks after the object
  EXPECT_TRUE(complete);
  std::string deep = "{\"a\": ";
  for (int i = 0; i < 70; ++i) deep += "[";
  EXPECT_LT(accepted(deep), deep.size());  // nesting is bounded
}

TEST(JsonObjectConstraint, MasksTokensThatCannotContinue) {
  auto vocab = std::make_shared<TokenBytes>();
  vocab->bytes = {"{", "}", "\"a\"", ":", " 1", "hello", "<think>", "", "{\"", "x"};
  vocab->special = {false, false, false, false, false, false, true, false, false, false};
  const std::int32_t stop = 7;
  JsonObjectConstraint c(vocab, {stop});
  auto allowed = [&] {
    std::vector<float> logits(vocab->bytes.size(), 0.0f);
    c.restrict(logits);
    std::vector<int> ids;
    for (std::size_t i = 0; i < logits.size(); ++i)
      if (!std::isinf(logits[i])) ids.push_back(static_cast<int>(i));
    return ids;
  };
  EXPECT_EQ(allowed(), (std::vector<int>{0, 8}));  // "{" or "{\""
  c.accept(0);
  EXPECT_EQ(allowed(), (std::vector<int>{1, 2}));  // "}" or a key; never the special token
  c.accept(2);
  EXPECT_EQ(allowed(), (std::vector<int>{3}));
  c.accept(3);
  EXPECT_EQ(allowed(), (std::vector<int>{0, 2, 4, 8}));  // a value: an object, a string or a number
  c.accept(4);
  EXPECT_EQ(allowed(), (std::vector<int>{1}));
  c.accept(1);
  EXPECT_TRUE(c.complete());
  EXPECT_EQ(allowed(), (std::vector<int>{stop}));  // closed: only the end of the turn
}

}  // namespace
}  // namespace glmq::serve
