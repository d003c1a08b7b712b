#pragma once
// Finding a markup tag in text that arrives in pieces: either the tag is there, or the text may end with the
// tag's beginning, which has to wait for the next piece before it can be passed on.
#include <algorithm>
#include <cstddef>
#include <string_view>

namespace glmq::serve {

struct TagScan {
  std::size_t tag_at;   // position of the tag, or npos
  std::size_t settled;  // without the tag: how many leading bytes can no longer be part of it
};

inline TagScan scan_for_tag(std::string_view text, std::string_view tag) {
  if (auto at = text.find(tag); at != std::string_view::npos) return {at, at};
  for (std::size_t n = std::min(tag.size() - 1, text.size()); n > 0; --n)
    if (text.substr(text.size() - n) == tag.substr(0, n)) return {std::string_view::npos, text.size() - n};
  return {std::string_view::npos, text.size()};
}

inline bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; });
}

inline std::string_view trim_blank(std::string_view text) {
  const auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; };
  while (!text.empty() && blank(text.front())) text.remove_prefix(1);
  while (!text.empty() && blank(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace glmq::serve
