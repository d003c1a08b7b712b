#pragma once
// What a client asked for, read from the JSON of /v1/chat/completions or /v1/completions and checked field by
// field. Every problem is an ApiError (400) naming the field, what was expected and what was found.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "runtime/sampler.h"
#include "tokenizer/chat_template.h"

namespace glmq::serve {

// Options both endpoints share.
struct GenerationOptions {
  SamplingParams sampling;
  bool seed_given = false;
  std::optional<std::int64_t> max_tokens;
  std::vector<std::string> stop;
  std::vector<std::pair<std::int32_t, float>> logit_bias;
  bool ignore_eos = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;
  int top_logprobs = 0;
  bool json_object = false;  // response_format {"type": "json_object"}
};

enum class ToolChoice { None, Auto, Required, Function };

struct ChatCompletionRequest {
  std::string model;
  GenerationOptions options;
  // Messages as the template expects them: content as text, tool-call arguments as objects, developer as system.
  ChatRequest chat;
  ToolChoice tool_choice = ToolChoice::None;
  std::string tool_choice_name;  // with ToolChoice::Function
  bool thinking_disabled = false;  // enable_thinking: false (chat_template_kwargs or top level)
};

struct CompletionRequest {
  std::string model;
  GenerationOptions options;
  std::optional<std::string> prompt_text;
  std::vector<std::int32_t> prompt_tokens;  // when the prompt was given as token ids
};

// Largest max_tokens accepted at all; the context limit is checked once the prompt is known.
inline constexpr std::int64_t kMaxTokensLimit = 1 << 24;

ChatCompletionRequest parse_chat_completion_request(std::string_view body);
CompletionRequest parse_completion_request(std::string_view body);

// Shared by /tokenize and the parsers: the body as a JSON object, or a 400 saying why not.
nlohmann::ordered_json parse_json_object(std::string_view body);

}  // namespace glmq::serve
