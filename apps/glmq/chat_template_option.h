#pragma once
// --chat-template-file for serve and chat: a Jinja file instead of the model's own template (for models
// shipped with a simplified one, or to try a fixed template), rendered with the model's special tokens.
#include <string>

#include "tokenizer/chat_template.h"

namespace glmq::cli {

ChatTemplate load_chat_template(const std::string& model_dir, const std::string& template_file);

}  // namespace glmq::cli
