#pragma once
// The assistant's answer as it streams: text → reasoning/answer split → tool calls in the answer. Streaming
// and non-streaming responses are both built from these deltas, so they cannot disagree.
#include <optional>
#include <string>
#include <vector>

#include "serve/reasoning_parser.h"
#include "serve/text_output.h"
#include "serve/tool_call_parser.h"

namespace glmq::serve {

struct ChatDelta {
  std::string reasoning, content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

struct ChatOutputOptions {
  std::vector<std::string> stops;
  bool starts_in_reasoning = false;
  bool parse_tool_calls = false;
  ToolParameterTypes tool_types;
  // Markup the prompt already wrote into the answer (a forced "<tool_call>name"); parsed, never shown.
  std::string forced_prefix;
};

struct ParsedToolCall {
  std::string name, arguments;
};

class ChatOutput {
 public:
  ChatOutput(const Tokenizer& tokenizer, ChatOutputOptions options);
  ChatDelta push(const GeneratedToken& token);
  ChatDelta finish();
  bool stopped_by_string() const { return text_.stopped(); }

  // Everything so far.
  const std::string& reasoning() const { return reasoning_; }
  const std::string& content() const { return content_; }
  const std::vector<ParsedToolCall>& tool_calls() const { return calls_; }

 private:
  ChatDelta route(const std::string& text, bool final);
  void record(const ChatDelta& d);

  TextOutput text_;
  ReasoningParser reasoning_parser_;
  std::optional<ToolCallParser> tool_parser_;
  std::string reasoning_, content_;
  std::vector<ParsedToolCall> calls_;
  ChatDelta prefix_delta_;  // what the forced prefix produced, sent with the first real delta
};

}  // namespace glmq::serve
