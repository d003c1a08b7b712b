// Ids, decoding and round trips equal HF's on a generated corpus of hard inputs (emoji/ZWJ, CJK,
// combining marks, RTL, control characters, invalid UTF-8, long runs, special tokens in text).
#include <gtest/gtest.h>

#include "golden_util.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace glmq::test {
namespace {

TEST(TokenizerAdversarial, IdsDecodeAndStreamingMatchHf) {
  const Tokenizer tok = Tokenizer::from_directory(mini_model_dir());
  const auto golden = read_golden("tokenizer_adversarial.json");
  std::size_t n = 0;
  for (const auto& c : golden["cases"]) {
    const std::string input = from_hex(c["input_hex"].get<std::string>());
    SCOPED_TRACE("case " + std::to_string(n++) + " input " + c["input_hex"].get<std::string>());
    const auto expected = c["ids"].get<std::vector<uint32_t>>();
    const std::vector<uint32_t> ids = tok.encode(input);
    EXPECT_EQ(ids, expected);
    const std::string decoded = tok.decode(expected);
    EXPECT_EQ(decoded, from_hex(c["decoded_hex"].get<std::string>()));
    // HF round-trips the text it was given, i.e. the input after U+FFFD repair.
    if (c["roundtrip"].get<bool>()) {
      EXPECT_EQ(decoded, utf8::to_valid_lossy(input));
    }
    // Streaming one id at a time gives the same text, never a broken character along the way.
    StreamDecoder stream(tok);
    std::string streamed;
    for (uint32_t id : expected) streamed += stream.push(id);
    streamed += stream.finish();
    EXPECT_EQ(streamed, decoded);
  }
  EXPECT_GE(n, 100u);
}

}  // namespace
}  // namespace glmq::test
