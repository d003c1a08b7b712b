#pragma once
// Incremental detokenization for streaming output: push ids one at a time and get the text that
// is final so far. A UTF-8 character split across tokens is held back until it is complete, and
// bytes that can never become valid come out as U+FFFD exactly where a full decode puts them, so
// the concatenation of all pieces plus finish() equals Tokenizer::decode of all ids.
#include <cstdint>
#include <string>

namespace glmq {

class Tokenizer;

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special_tokens = false);

  // Text completed by this id (possibly empty).
  std::string push(uint32_t id);
  // Text held back at the end of the stream (an incomplete character becomes U+FFFD).
  std::string finish();
  // Bytes waiting for the rest of a character.
  std::size_t pending_bytes() const { return pending_.size(); }

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;
};

}  // namespace glmq
