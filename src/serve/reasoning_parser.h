#pragma once
// Splits GLM output into reasoning (between <think> and </think>) and the answer, piece by piece.
//
// GLM-5 templates open <think> in the prompt itself, so the output often starts inside the reasoning and
// holds only the closing tag. Where the split starts therefore comes from the rendered prompt
// (prompt_opens_reasoning), not from the model name or a request flag: a prompt that ends with an open
// <think> starts in reasoning; one that ends with <think></think> (thinking switched off) starts in the answer,
// so an answer without any tag is never mistaken for reasoning.
#include <string>
#include <string_view>

namespace glmq::serve {

struct ReasoningSplit {
  std::string reasoning, content;
  bool empty() const { return reasoning.empty() && content.empty(); }
};

// True when the prompt's last think tag is an unclosed <think>.
bool prompt_opens_reasoning(std::string_view prompt);

class ReasoningParser {
 public:
  explicit ReasoningParser(bool starts_in_reasoning);
  ReasoningSplit push(std::string_view text);
  ReasoningSplit finish();
  bool in_reasoning() const { return state_ == State::Reasoning; }

 private:
  enum class State { BeforeContent, Reasoning, Content };
  void drain(ReasoningSplit& out, bool final);

  State state_;
  std::string pending_;
};

}  // namespace glmq::serve
