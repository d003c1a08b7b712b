#pragma once
// A model's chat template, rendered the way transformers' apply_chat_template does (jinja2 with
// trim_blocks and lstrip_blocks, its tojson, raise_exception and strftime_now, the tokenizer's
// named special tokens as variables).
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_config.h"

namespace glmq {

namespace jinja {
struct Node;
}

// Key order matters (templates print tool schemas as given), so requests use ordered JSON.
using OrderedJson = nlohmann::ordered_json;

struct ChatRequest {
  OrderedJson messages = OrderedJson::array();
  OrderedJson tools;  // null: no tools (the template sees tools=None)
  bool add_generation_prompt = false;
  // Further template variables, e.g. {"enable_thinking": false}; they override the defaults.
  OrderedJson extra = OrderedJson::object();
};

// Reads a JSON file keeping key order; errors name the file.
OrderedJson read_ordered_json_file(const std::string& path);

class ChatTemplate {
 public:
  // Parses `source`; syntax errors and unknown filters/tests are Config errors.
  ChatTemplate(const std::string& source, const TokenizerConfig& config);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // The template from <dir>/tokenizer_config.json (or chat_template.jinja).
  static ChatTemplate from_directory(const std::string& dir);

  // Errors raised by the template (raise_exception) or by bad input are InvalidArgument errors.
  std::string render(const ChatRequest& request) const;

 private:
  std::vector<std::unique_ptr<jinja::Node>> body_;
  TokenizerConfig config_;
};

}  // namespace glmq
