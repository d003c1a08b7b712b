#pragma once
// A compiled PCRE2 pattern (UTF-8, Unicode properties, JIT) used by the pre-tokenizer and the
// added-token boundary rules. HF tokenizers compiles its patterns with Oniguruma; the few escapes
// whose Unicode meaning differs between the two engines (\s, \S, \w, \W) are rewritten to
// explicit classes so both engines accept exactly the same characters.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace glmq {

struct MatchSpan {
  std::size_t begin;
  std::size_t end;
};

class SplitRegex {
 public:
  // `what` names the pattern's origin for error messages (file and JSON path).
  SplitRegex(const std::string& pattern, bool literal, const std::string& what);
  ~SplitRegex();
  SplitRegex(const SplitRegex&) = delete;
  SplitRegex& operator=(const SplitRegex&) = delete;

  // All non-empty, non-overlapping matches left to right. `text` must be valid UTF-8.
  void find_all(std::string_view text, std::vector<MatchSpan>& out) const;
  // Whether the pattern matches at some position in text (anchors in the pattern apply).
  bool search(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Rewrites Oniguruma-style Unicode escapes into PCRE2 syntax with the same meaning; exposed for tests.
std::string translate_oniguruma_pattern(const std::string& pattern, const std::string& what);

}  // namespace glmq
