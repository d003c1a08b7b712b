#include "serve/text_output.h"

namespace glmq::serve {

// Special tokens are kept: GLM's <think> and <tool_call> markup are special tokens the parsers need.
TextOutput::TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stops)
    : decoder_(tokenizer, false), stops_(std::move(stops)) {}

std::string TextOutput::push(const GeneratedToken& token) {
  if (token.is_stop || stops_.stopped()) return {};
  return stops_.push(decoder_.push(static_cast<std::uint32_t>(token.id)));
}

std::string TextOutput::finish() {
  if (stops_.stopped()) return {};
  std::string tail = stops_.push(decoder_.finish());
  return tail + stops_.finish();
}

}  // namespace glmq::serve
