#include "serve/chat_output.h"

namespace glmq::serve {

ChatOutput::ChatOutput(const Tokenizer& tokenizer, ChatOutputOptions options)
    : text_(tokenizer, std::move(options.stops)), reasoning_parser_(options.starts_in_reasoning) {
  if (options.parse_tool_calls) tool_parser_.emplace(std::move(options.tool_types));
  if (!options.forced_prefix.empty() && tool_parser_) prefix_delta_.tool_calls = tool_parser_->push(options.forced_prefix).tool_calls;
}

ChatDelta ChatOutput::route(const std::string& text, bool final) {
  ChatDelta d = std::move(prefix_delta_);
  prefix_delta_ = {};
  ReasoningSplit split = reasoning_parser_.push(text);
  if (final) {
    ReasoningSplit tail = reasoning_parser_.finish();
    split.reasoning += tail.reasoning;
    split.content += tail.content;
  }
  d.reasoning += split.reasoning;
  if (tool_parser_) {
    ContentDelta c = tool_parser_->push(split.content);
    if (final) {
      ContentDelta tail = tool_parser_->finish();
      c.text += tail.text;
      c.tool_calls.insert(c.tool_calls.end(), tail.tool_calls.begin(), tail.tool_calls.end());
    }
    d.content += c.text;
    d.tool_calls.insert(d.tool_calls.end(), c.tool_calls.begin(), c.tool_calls.end());
  } else {
    d.content += split.content;
  }
  return d;
}

void ChatOutput::record(const ChatDelta& d) {
  reasoning_ += d.reasoning;
  content_ += d.content;
  for (const auto& t : d.tool_calls) {
    if (static_cast<std::size_t>(t.index) >= calls_.size()) calls_.resize(static_cast<std::size_t>(t.index) + 1);
    auto& call = calls_[static_cast<std::size_t>(t.index)];
    if (!t.name.empty()) call.name = t.name;
    call.arguments += t.arguments;
  }
}

ChatDelta ChatOutput::push(const GeneratedToken& token) {
  ChatDelta d = route(text_.push(token), false);
  record(d);
  return d;
}

ChatDelta ChatOutput::finish() {
  ChatDelta d = route(text_.finish(), true);
  record(d);
  return d;
}

}  // namespace glmq::serve
