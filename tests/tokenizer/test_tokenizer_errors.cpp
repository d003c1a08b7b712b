// Malformed or unsupported tokenizer.json, random bytes and random templates: a clear glmq::Error
// (or a successful result), never a crash or a silently different tokenisation.
#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "golden_util.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace glmq::test {
namespace {

Json mini_json() { return Json::parse(read_bytes(mini_model_dir() + "/tokenizer.json")); }

void expect_config_error(const Json& j, const std::string& fragment) {
  try {
    Tokenizer t(j, "tokenizer.json");
    ADD_FAILURE() << "accepted: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(TokenizerErrors, UnsupportedComponentsAreRefused) {
  Json j = mini_json();
  j["model"]["type"] = "WordPiece";
  expect_config_error(j, "model.type \"WordPiece\"");
  j = mini_json();
  j["normalizer"] = {{"type", "NFKC"}};
  expect_config_error(j, "normalizer type \"NFKC\"");
  j = mini_json();
  j["pre_tokenizer"]["pretokenizers"][0]["type"] = "Metaspace";
  expect_config_error(j, "pre_tokenizer type \"Metaspace\"");
  j = mini_json();
  j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "(unclosed";
  expect_config_error(j, "cannot compile pattern");
  j = mini_json();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_config_error(j, "decoder");
  j = mini_json();
  j["model"]["merges"][0] = "no_such_token another";
  expect_config_error(j, "missing from the vocabulary");
  j = mini_json();
  j["model"]["dropout"] = 0.1;
  expect_config_error(j, "dropout");
  j = mini_json();
  j["added_tokens"][0]["id"] = "x";
  expect_config_error(j, "added_tokens[0]");
  expect_config_error(Json::array(), "top level");
  expect_config_error(Json::object(), "tokenizer.json");
}

TEST(TokenizerErrors, BadIdsAreInvalidArguments) {
  const Tokenizer tok = Tokenizer::from_directory(mini_model_dir());
  const std::vector<uint32_t> ids = {1, 999999};
  EXPECT_THROW(tok.decode(ids), Error);
  StreamDecoder stream(tok);
  EXPECT_THROW(stream.push(999999), Error);
}

TEST(TokenizerErrors, RandomBytesEncodeAndRoundTrip) {
  const Tokenizer tok = Tokenizer::from_directory(mini_model_dir());
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string bytes(rng() % 200, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const auto ids = tok.encode(bytes);
    const std::string decoded = tok.decode(ids);
    // Invalid UTF-8 becomes U+FFFD first, so the decoded (repaired) text encodes to the same ids.
    EXPECT_EQ(tok.encode(decoded), ids);
  }
}

TEST(TokenizerErrors, MalformedJsonFilesAndTruncations) {
  const std::string text = read_bytes(mini_model_dir() + "/tokenizer.json");
  std::mt19937 rng(11);
  int errors = 0;
  for (int i = 0; i < 40; ++i) {
    std::string broken = text.substr(0, rng() % text.size());
    if (i % 2) broken[rng() % broken.size()] = static_cast<char>(rng() & 0xFF);
    try {
      Tokenizer t(parse_json_text(broken, "tokenizer.json"), "tokenizer.json");
    } catch (const Error&) {
      ++errors;
    }
  }
  EXPECT_EQ(errors, 40);
}

TEST(TokenizerErrors, RandomTemplatesNeverCrash) {
  const char* pieces[] = {"{{", "}}", "{%", "%}", "{#", "#}", "-", " if ", " for ", " x ", " in ", " endif ", " endfor ",
                          "'s'", "\"", "(", ")", "[", "]", "|", " trim ", ".", "1", " set ", "=", " macro ", "\n", "text",
                          " is ", " defined ", "~", "+", "*", " else ", ",", ":", "{", "}", " raw ", " loop.index "};
  std::mt19937 rng(5);
  int rendered = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string source;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) source += pieces[rng() % std::size(pieces)];
    try {
      ChatRequest request;
      ChatTemplate(source, TokenizerConfig{}).render(request);
      ++rendered;
    } catch (const Error&) {
    }
  }
  EXPECT_GT(rendered, 0);
}

}  // namespace
}  // namespace glmq::test
