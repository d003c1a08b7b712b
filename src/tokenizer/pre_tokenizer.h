#pragma once
// tokenizer.json "pre_tokenizer": splits normalized text into the pieces BPE encodes one by one.
// Supported: Sequence, Split (Regex or String pattern, all five delimiter behaviours, invert) and
// ByteLevel (add_prefix_space, use_regex). ByteLevel must come last: glmq keeps pieces as raw
// bytes and lets the BPE model work in bytes, which is the same as mapping them to the alphabet.
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_file.h"
#include "tokenizer/split_regex.h"

namespace glmq {

// Pieces point into the caller's text or into `owned` (pieces a step had to rewrite).
struct Pieces {
  std::vector<std::string_view> views;
  std::deque<std::string> owned;
};

class PreTokenizerStep {
 public:
  virtual ~PreTokenizerStep() = default;
  virtual void apply(Pieces& pieces) const = 0;
};

class PreTokenizer {
 public:
  PreTokenizer(const Json& spec, const std::string& what);
  // Whether the last step maps bytes to the GPT-2 alphabet (so BPE symbols are bytes).
  bool byte_level() const { return byte_level_; }
  // Replaces `pieces` (initially one or more spans of text) by the pre-tokenized pieces.
  void apply(Pieces& pieces) const;

 private:
  void add_step(const Json& spec, const std::string& what);
  std::vector<std::unique_ptr<PreTokenizerStep>> steps_;
  bool byte_level_ = false;
};

}  // namespace glmq
