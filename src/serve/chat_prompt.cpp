#include "serve/chat_prompt.h"

#include "core/error.h"
#include "serve/api_error.h"
#include "serve/reasoning_parser.h"

namespace glmq::serve {

PreparedChat prepare_chat(const ChatCompletionRequest& request, const ChatTemplate& chat_template, const Tokenizer& tokenizer) {
  std::string text;
  try {
    text = chat_template.render(request.chat);
  } catch (const Error& e) {
    invalid_request("messages", std::string("the chat template refused the conversation: ") + e.what());
  }
  PreparedChat p;
  const bool forced_call = request.tool_choice == ToolChoice::Required || request.tool_choice == ToolChoice::Function;
  bool reasoning = prompt_opens_reasoning(text);
  // A forced call or JSON mode must start the answer right away, so an open <think> is closed.
  if (reasoning && (request.thinking_disabled || forced_call || request.options.json_object)) {
    text += "</think>";
    reasoning = false;
  }
  if (forced_call) {
    p.output.forced_prefix = "<tool_call>" + (request.tool_choice == ToolChoice::Function ? request.tool_choice_name : std::string());
    text += p.output.forced_prefix;
    if (request.tool_choice == ToolChoice::Function) {
      const auto key = tokenizer.token_to_id("<arg_key>"), end = tokenizer.token_to_id("</tool_call>");
      if (key && end) p.first_token_choices = {static_cast<std::int32_t>(*key), static_cast<std::int32_t>(*end)};
    }
  }
  // The template writes the special prefix itself, as apply_chat_template(tokenize=True) assumes.
  const auto ids = tokenizer.encode(text, false);
  p.tokens.assign(ids.begin(), ids.end());
  p.output.stops = request.options.stop;
  p.output.starts_in_reasoning = reasoning;
  p.output.parse_tool_calls = request.tool_choice != ToolChoice::None;
  if (p.output.parse_tool_calls) p.output.tool_types = tool_parameter_types(request.chat.tools);
  return p;
}

}  // namespace glmq::serve
