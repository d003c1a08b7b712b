#pragma once
// A chat request → the prompt tokens and how to read the answer. The rendered prompt decides whether the
// answer starts inside <think>; enable_thinking=false closes a <think> the template left open, and a forced
// tool choice writes the start of the call ("<tool_call>" or "<tool_call>name") into the prompt.
#include <cstdint>
#include <vector>

#include "serve/api_request.h"
#include "serve/chat_output.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace glmq::serve {

struct PreparedChat {
  std::vector<std::int32_t> tokens;
  ChatOutputOptions output;
  // After a forced "<tool_call>name" only <arg_key> or </tool_call> may follow, so the call is well formed.
  std::vector<std::int32_t> first_token_choices;
};

// Template errors (raise_exception, bad message shapes) are 400s.
PreparedChat prepare_chat(const ChatCompletionRequest& request, const ChatTemplate& chat_template, const Tokenizer& tokenizer);

}  // namespace glmq::serve
