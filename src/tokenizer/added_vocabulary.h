#pragma once
// tokenizer.json "added_tokens": tokens (special or not) matched in the raw text before the
// model sees it, with HF's rules: leftmost-longest match, single_word boundaries, lstrip/rstrip
// swallowing neighbouring whitespace, and two passes (non-normalized tokens on the original
// text, normalized ones on the normalized pieces).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/json_file.h"

namespace glmq {

class Normalizer;

struct AddedToken {
  uint32_t id = 0;
  std::string content;
  bool special = false;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
};

// A span of text that either is an added token (id set) or still has to be encoded.
struct TextSegment {
  std::size_t begin;
  std::size_t end;
  std::optional<uint32_t> id;
};

class AddedVocabulary {
 public:
  AddedVocabulary(const Json& added_tokens, const Normalizer* normalizer, const std::string& what);

  // Cuts `text` at the matches of the normalized (or non-normalized) tokens. Segments cover the text.
  void split(std::string_view text, bool normalized_pass, std::vector<TextSegment>& out) const;
  bool has_tokens(bool normalized_pass) const { return !matchers_[normalized_pass].patterns.empty(); }

  const AddedToken* by_id(uint32_t id) const;
  const AddedToken* by_content(const std::string& content) const;
  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  struct Pattern {
    std::string text;
    std::size_t token_index;
  };
  // Patterns grouped by first byte, longest first, so the first hit at a position is the longest.
  struct Matcher {
    std::vector<Pattern> patterns;
    std::array<std::vector<std::size_t>, 256> by_first_byte;
  };
  std::vector<AddedToken> tokens_;
  std::unordered_map<uint32_t, std::size_t> index_by_id_;
  std::unordered_map<std::string, std::size_t> index_by_content_;
  std::array<Matcher, 2> matchers_;  // [0] non-normalized, [1] normalized
};

}  // namespace glmq
