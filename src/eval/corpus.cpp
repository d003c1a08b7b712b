#include "eval/corpus.h"

#include <filesystem>

#include "core/error.h"
#include "core/json_file.h"
#include "eval/jsonl_file.h"

namespace glmq::eval {

std::vector<std::int32_t> tokenize_whole(const Tokenizer& tokenizer, const std::string& text) {
  const auto ids = tokenizer.encode(text, false);
  return {ids.begin(), ids.end()};
}

TokenRows tokenize_jsonl_documents(const Tokenizer& tokenizer, const std::string& path, std::int32_t eos) {
  TokenRows docs;
  for_each_jsonl_record(path, [&](const JsonlRecord& r) {
    auto ids = tokenize_whole(tokenizer, r.string_field("text"));
    if (ids.empty() || ids.back() != eos) ids.push_back(eos);
    docs.push_back(std::move(ids));
    return true;
  });
  return docs;
}

std::int32_t end_of_sequence_id(const Tokenizer& tokenizer, const std::string& model_dir,
                                std::optional<std::int32_t> fallback) {
  const std::string config_path = model_dir + "/tokenizer_config.json";
  if (std::filesystem::exists(config_path)) {
    const Json config = read_json_file(config_path);
    if (auto it = config.find("eos_token"); it != config.end()) {
      // eos_token is a string or an AddedToken object {"content": ...}.
      const Json& token = it->is_object() && it->contains("content") ? (*it)["content"] : *it;
      if (token.is_string()) {
        if (auto id = tokenizer.token_to_id(token.get<std::string>())) return static_cast<std::int32_t>(*id);
        fail(ErrorKind::Config,
             config_path + ": eos_token \"" + token.get<std::string>() + "\" is not in the vocabulary");
      }
    }
  }
  if (fallback) return *fallback;
  fail(ErrorKind::Config, model_dir +
                              ": no end-of-sequence token (tokenizer_config.json eos_token or config.json "
                              "eos_token_id) for jsonl documents");
}

}  // namespace glmq::eval
