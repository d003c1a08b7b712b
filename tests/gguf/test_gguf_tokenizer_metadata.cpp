// The converter's tokenizer metadata from a hand-made HF tokenizer folder: holes, added-token types, merge pairs
// with spaces, special ids in SpecialVocab's order and a TemplateProcessing post-processor. (glm-small's ByteLevel
// tokenizer is compared with the real converter's output in test_gguf_glmq_interop.)
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/gguf_tokenizer_metadata.h"

namespace glmq {
namespace {

namespace fs = std::filesystem;

const GgufValue& value(const GgufMetadata& md, const std::string& key) {
  for (const auto& [k, v] : md)
    if (k == key) return v;
  ADD_FAILURE() << key << " missing";
  static const GgufValue none;
  return none;
}

std::vector<std::string> keys(const GgufMetadata& md) {
  std::vector<std::string> out;
  for (const auto& [k, v] : md) out.push_back(k);
  return out;
}

std::string write_folder() {
  const std::string dir = std::string(GLMQ_BINARY_DIR) + "/gguf_tokenizer_metadata_test";
  fs::create_directories(dir);
  std::ofstream(dir + "/tokenizer.json") << R"({
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "a b": 2, "ab": 3},
              "merges": [["a", "b"], ["a", " b"]]},
    "added_tokens": [
      {"id": 5, "content": "<|endoftext|>", "special": true, "normalized": false},
      {"id": 6, "content": "[gMASK]", "special": true, "normalized": false},
      {"id": 7, "content": "<|user|>", "special": false, "normalized": false},
      {"id": 8, "content": "\u2581word", "special": false, "normalized": false}],
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "[gMASK]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}
  })";
  std::ofstream(dir + "/tokenizer_config.json") << R"({"bos_token": "[gMASK]", "eos_token": "<|endoftext|>",
                                                       "chat_template": "{{ messages }}"})";
  std::ofstream(dir + "/config.json") << R"({"vocab_size": 10, "pad_token_id": 5})";
  return dir;
}

TEST(GgufTokenizerMetadata, FollowsTheConverter) {
  const GgufMetadata md = gguf_tokenizer_metadata(write_folder(), 10);
  EXPECT_EQ(value(md, "tokenizer.ggml.model").as_string("m"), "gpt2");
  EXPECT_EQ(value(md, "tokenizer.ggml.pre").as_string("p"), "glm4");
  EXPECT_EQ(value(md, "tokenizer.ggml.tokens").as_string_array("t"),
            (std::vector<std::string>{"a", "b", "a b", "ab", "[PAD4]", "<|endoftext|>", "[gMASK]", "<|user|>", " word", "[PAD9]"}));
  // NORMAL 1, CONTROL 3 (special, or <|…|> looking special), USER_DEFINED 4 (▁ pre-normalised to a space), UNUSED 5.
  EXPECT_EQ(value(md, "tokenizer.ggml.token_type").as_int_array("tt"), (std::vector<std::int64_t>{1, 1, 1, 1, 5, 3, 3, 3, 4, 5}));
  EXPECT_EQ(value(md, "tokenizer.ggml.merges").as_string_array("mg"), (std::vector<std::string>{"a b", "a \xC4\xA0" "b"}));
  EXPECT_EQ(value(md, "tokenizer.ggml.bos_token_id").as_int("b"), 6);
  EXPECT_EQ(value(md, "tokenizer.ggml.eos_token_id").as_int("e"), 5);
  EXPECT_EQ(value(md, "tokenizer.ggml.padding_token_id").as_int("p"), 5);
  EXPECT_EQ(value(md, "tokenizer.ggml.unknown_token_id").as_int("u"), 5);
  EXPECT_EQ(value(md, "tokenizer.ggml.eot_token_id").as_int("t"), 7);
  EXPECT_EQ(value(md, "tokenizer.ggml.bos_token_id").type(), GgufType::U32);
  EXPECT_TRUE(value(md, "tokenizer.ggml.add_bos_token").as_bool("ab"));  // the template starts with bos
  EXPECT_EQ(value(md, "tokenizer.chat_template").as_string("c"), "{{ messages }}");
  // SpecialVocab's order: tokenizer_config's texts, config.json's ids, then GLM's eot/unk; no eom token here.
  EXPECT_EQ(keys(md), (std::vector<std::string>{"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
                                                "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
                                                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
                                                "tokenizer.ggml.eot_token_id", "tokenizer.ggml.unknown_token_id",
                                                "tokenizer.ggml.add_bos_token", "tokenizer.chat_template"}));
}

TEST(GgufTokenizerMetadata, RefusesIdsBeyondTheVocabulary) {
  try {
    gguf_tokenizer_metadata(write_folder(), 8);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Config);
    EXPECT_NE(std::string(e.what()).find("token id 8 is outside config.json's vocab_size 8"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glmq
