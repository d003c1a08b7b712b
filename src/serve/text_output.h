#pragma once
// Generated token ids → the text a client sees: incremental UTF-8-safe detokenizing, end-of-turn ids left
// out, stop strings cut.
#include <string>
#include <vector>

#include "serve/generation_job.h"
#include "serve/stop_strings.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

namespace glmq::serve {

class TextOutput {
 public:
  TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stops);
  std::string push(const GeneratedToken& token);
  std::string finish();
  // A stop string ended the text: generation should stop too.
  bool stopped() const { return stops_.stopped(); }

 private:
  StreamDecoder decoder_;
  StopStringMatcher stops_;
};

}  // namespace glmq::serve
