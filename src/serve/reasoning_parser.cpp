#include "serve/reasoning_parser.h"

#include "serve/tag_scan.h"

namespace glmq::serve {

namespace {
constexpr std::string_view kOpen = "<think>", kClose = "</think>";
}

bool prompt_opens_reasoning(std::string_view prompt) {
  const auto open = prompt.rfind(kOpen), close = prompt.rfind(kClose);
  return open != std::string_view::npos && (close == std::string_view::npos || close < open);
}

// The answer never starts with blank lines (the model writes "</think>\n\nAnswer"); leading blanks of the
// answer are dropped, which also lets <think> be recognised after them.
ReasoningParser::ReasoningParser(bool starts_in_reasoning)
    : state_(starts_in_reasoning ? State::Reasoning : State::BeforeContent) {}

ReasoningSplit ReasoningParser::push(std::string_view text) {
  pending_.append(text);
  ReasoningSplit out;
  drain(out, false);
  return out;
}

ReasoningSplit ReasoningParser::finish() {
  ReasoningSplit out;
  drain(out, true);
  return out;
}

void ReasoningParser::drain(ReasoningSplit& out, bool final) {
  for (;;) {
    std::string_view p = pending_;
    if (state_ == State::BeforeContent) {
      const auto first = p.find_first_not_of(" \n\t\r");
      if (first == std::string_view::npos) {
        pending_.clear();  // blanks before the answer
        return;
      }
      p.remove_prefix(first);
      if (p.starts_with(kOpen)) {
        pending_.erase(0, first + kOpen.size());
        state_ = State::Reasoning;
        continue;
      }
      if (!final && kOpen.starts_with(p)) {  // maybe the start of <think>
        pending_.erase(0, first);
        return;
      }
      pending_.erase(0, first);
      state_ = State::Content;
      continue;
    }
    if (state_ == State::Content) {
      out.content += pending_;
      pending_.clear();
      return;
    }
    const TagScan scan = scan_for_tag(p, kClose);
    if (scan.tag_at != std::string_view::npos) {
      out.reasoning.append(p.substr(0, scan.tag_at));
      pending_.erase(0, scan.tag_at + kClose.size());
      state_ = State::BeforeContent;
      continue;
    }
    const std::size_t n = final ? p.size() : scan.settled;
    out.reasoning.append(p.substr(0, n));
    pending_.erase(0, n);
    return;
  }
}

}  // namespace glmq::serve
