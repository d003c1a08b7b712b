#pragma once
// OpenAI response bodies: chat.completion and its stream chunks, text_completion, usage, logprobs, and the
// server-sent-events framing of stream chunks.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/chat_output.h"
#include "serve/generation_job.h"
#include "tokenizer/tokenizer.h"

namespace glmq::serve {

using nlohmann::json;

// Identity shared by all chunks of one response.
struct ResponseHeader {
  std::string id;  // chatcmpl-… / cmpl-…
  std::int64_t created = 0;
  std::string model;
};

std::string finish_reason_name(FinishReason reason, bool tool_calls);
json usage_json(std::int64_t prompt_tokens, std::int64_t completion_tokens);
std::string tool_call_id(const ResponseHeader& header, int index);

// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs}]}.
json chat_logprobs_json(const Tokenizer& tokenizer, const std::vector<GeneratedToken>& tokens);
// Legacy completions logprobs: {tokens, token_logprobs, top_logprobs, text_offset}.
json completion_logprobs_json(const Tokenizer& tokenizer, const std::vector<GeneratedToken>& tokens, std::size_t text_offset);

json chat_message_json(const ChatOutput& output, const ResponseHeader& header);
json chat_completion_json(const ResponseHeader& header, const json& message, const std::string& finish_reason,
                          const json& logprobs, const json& usage);
// A stream delta; `first` adds the assistant role.
json chat_delta_json(const ChatDelta& delta, const ResponseHeader& header, bool first);
json chat_chunk_json(const ResponseHeader& header, const json& delta, const json& finish_reason, const json& logprobs);
json usage_chunk_json(const ResponseHeader& header, const char* object, const json& usage);

json text_completion_json(const ResponseHeader& header, const std::string& text, const json& finish_reason,
                          const json& logprobs, const json& usage, bool chunk);

// "data: <json>\n\n" and the terminating "data: [DONE]\n\n".
std::string sse_event(const json& payload);
std::string sse_done();

}  // namespace glmq::serve
