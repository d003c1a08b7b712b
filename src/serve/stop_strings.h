#pragma once
// Stop sequences over streamed text: text that could still become the start of a stop string is held back,
// so a client never sees part of a stop string, and the text ends right before the first match.
#include <string>
#include <string_view>
#include <vector>

namespace glmq::serve {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);

  // Text that is final (may be empty). After a match, returns the text before it and stopped() is true;
  // later calls return nothing.
  std::string push(std::string_view text);
  // The held-back tail at the end of the stream.
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace glmq::serve
