#pragma once
// tokenizer_config.json: the chat template and the named special tokens transformers passes to it.
#include <optional>
#include <string>

#include "core/json_file.h"

namespace glmq {

struct TokenizerConfig {
  std::optional<std::string> chat_template;
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  bool add_bos_token = false;
  bool add_eos_token = false;

  static TokenizerConfig from_json(const Json& j, const std::string& what);
  // Reads <dir>/tokenizer_config.json; a separate <dir>/chat_template.jinja, when present, wins
  // over the JSON key, as in transformers.
  static TokenizerConfig from_directory(const std::string& dir);
};

}  // namespace glmq
