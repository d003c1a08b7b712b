#include "formats/gguf_tokenizer_json.h"

#include "core/error.h"

namespace glmq {

namespace {
// gguf.TokenType (gguf-py constants.py).
constexpr std::int64_t kNormal = 1, kControl = 3, kUserDefined = 4, kUnused = 5;

// GLM-4/5's split regex (llama.cpp's LLAMA_VOCAB_PRE_TYPE_CHATGLM4, the pattern GLM's tokenizer.json carries).
constexpr const char* kGlmSplitRegex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
}  // namespace

Json tokenizer_json_from_gguf(const GgufFile& f) {
  const std::string model = f.get("tokenizer.ggml.model").as_string("tokenizer.ggml.model");
  if (model != "gpt2")
    fail(ErrorKind::Config, f.path() + ": tokenizer.ggml.model '" + model + "' is not supported (glmq reads byte-level BPE, 'gpt2')");
  const GgufValue* pre_value = f.find("tokenizer.ggml.pre");
  const std::string pre = pre_value ? pre_value->as_string("tokenizer.ggml.pre") : "";
  if (pre != "glm4" && pre != "glm5")
    fail(ErrorKind::Config, f.path() + ": tokenizer.ggml.pre '" + pre + "' is not supported (glmq knows GLM's 'glm4'/'glm5')");
  const auto& tokens = f.get("tokenizer.ggml.tokens").as_string_array("tokenizer.ggml.tokens");
  std::vector<std::int64_t> types(tokens.size(), kNormal);
  if (const GgufValue* t = f.find("tokenizer.ggml.token_type")) {
    types = t->as_int_array("tokenizer.ggml.token_type");
    if (types.size() != tokens.size())
      fail(ErrorKind::Config, f.path() + ": tokenizer.ggml.token_type has " + std::to_string(types.size()) + " entries for " +
                                  std::to_string(tokens.size()) + " tokens");
  }
  Json vocab = Json::object();
  Json added = Json::array();
  for (std::size_t id = 0; id < tokens.size(); ++id) {
    const std::int64_t type = types[id];
    if (type == kNormal) {
      vocab[tokens[id]] = id;
    } else if (type == kControl || type == kUserDefined) {
      const bool special = type == kControl;
      added.push_back({{"id", id}, {"content", tokens[id]}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", !special}, {"special", special}});
    } else if (type != kUnused) {
      fail(ErrorKind::Config, f.path() + ": token " + std::to_string(id) + " has token_type " + std::to_string(type) +
                                  ", which a byte-level BPE vocabulary does not use");
    }
  }
  Json merges = Json::array();
  if (const GgufValue* m = f.find("tokenizer.ggml.merges"))
    for (const auto& s : m->as_string_array("tokenizer.ggml.merges")) merges.push_back(s);
  Json j;
  j["model"] = {{"type", "BPE"}, {"vocab", std::move(vocab)}, {"merges", std::move(merges)}, {"ignore_merges", true},
                {"byte_fallback", false}, {"fuse_unk", false}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"}, {"pattern", {{"Regex", kGlmSplitRegex}}}, {"behavior", "Isolated"}, {"invert", false}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["added_tokens"] = std::move(added);
  return j;
}

}  // namespace glmq
