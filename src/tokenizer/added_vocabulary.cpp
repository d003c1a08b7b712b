#include "tokenizer/added_vocabulary.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/error.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/split_regex.h"
#include "tokenizer/utf8.h"

namespace glmq {
namespace {

// The Unicode \w of Rust's regex crate (HF's single_word rule), on the character before or after a match.
bool is_word_char(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) != 0 || c == '_';
  static const SplitRegex word(R"(\A[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])", false, "single_word rule");
  std::string encoded;
  utf8::append(encoded, c);
  return word.search(encoded);
}

char32_t char_before(std::string_view text, std::size_t end) {
  std::size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return utf8::decode(text, start);
}

char32_t char_at(std::string_view text, std::size_t pos) { return utf8::decode(text, pos); }

// Start of the whitespace run that ends at `end`.
std::size_t whitespace_run_start(std::string_view text, std::size_t end) {
  while (end > 0) {
    std::size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    std::size_t pos = start;
    if (!utf8::is_white_space(utf8::decode(text, pos))) break;
    end = start;
  }
  return end;
}

// End of the whitespace run that starts at `begin`.
std::size_t whitespace_run_end(std::string_view text, std::size_t begin) {
  while (begin < text.size()) {
    std::size_t pos = begin;
    if (!utf8::is_white_space(utf8::decode(text, pos))) break;
    begin = pos;
  }
  return begin;
}

bool flag(const Json& entry, const char* key, bool fallback, const std::string& where) {
  if (!entry.contains(key)) return fallback;
  if (!entry[key].is_boolean()) fail(ErrorKind::Format, where + "." + key + ": expected a boolean, found " + entry[key].dump());
  return entry[key].get<bool>();
}

}  // namespace

AddedVocabulary::AddedVocabulary(const Json& added_tokens, const Normalizer* normalizer, const std::string& what) {
  if (added_tokens.is_null()) return;
  if (!added_tokens.is_array()) fail(ErrorKind::Format, what + ": added_tokens: expected an array");
  for (std::size_t i = 0; i < added_tokens.size(); ++i) {
    const Json& entry = added_tokens[i];
    const std::string where = what + ": added_tokens[" + std::to_string(i) + "]";
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_number_unsigned() ||
        !entry.contains("content") || !entry["content"].is_string()) {
      fail(ErrorKind::Format, where + ": expected {\"id\": number, \"content\": string, ...}, found " + entry.dump());
    }
    AddedToken t;
    t.id = entry["id"].get<uint32_t>();
    t.content = entry["content"].get<std::string>();
    t.special = flag(entry, "special", false, where);
    t.single_word = flag(entry, "single_word", false, where);
    t.lstrip = flag(entry, "lstrip", false, where);
    t.rstrip = flag(entry, "rstrip", false, where);
    t.normalized = flag(entry, "normalized", !t.special, where);
    if (t.content.empty()) continue;  // HF ignores empty added tokens
    if (!utf8::is_valid(t.content)) fail(ErrorKind::Format, where + ": content is not valid UTF-8");
    index_by_id_[t.id] = tokens_.size();
    index_by_content_[t.content] = tokens_.size();
    tokens_.push_back(std::move(t));
  }
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    std::string text = t.content;
    if (t.normalized && normalizer) normalizer->apply(text);
    if (!text.empty()) matchers_[t.normalized].patterns.push_back({std::move(text), i});
  }
  for (Matcher& m : matchers_) {
    std::stable_sort(m.patterns.begin(), m.patterns.end(),
                     [](const Pattern& a, const Pattern& b) { return a.text.size() > b.text.size(); });
    for (std::size_t p = 0; p < m.patterns.size(); ++p) {
      m.by_first_byte[static_cast<unsigned char>(m.patterns[p].text[0])].push_back(p);
    }
  }
}

void AddedVocabulary::split(std::string_view text, bool normalized_pass, std::vector<TextSegment>& out) const {
  const Matcher& m = matchers_[normalized_pass];
  std::size_t segment_start = 0;  // end of the previous token match
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto& candidates = m.by_first_byte[static_cast<unsigned char>(text[pos])];
    const Pattern* hit = nullptr;
    for (std::size_t p : candidates) {
      const std::string& pat = m.patterns[p].text;
      if (pat.size() <= text.size() - pos && std::memcmp(text.data() + pos, pat.data(), pat.size()) == 0) {
        hit = &m.patterns[p];
        break;
      }
    }
    if (hit == nullptr) {
      ++pos;
      continue;
    }
    const AddedToken& token = tokens_[hit->token_index];
    std::size_t start = pos, stop = pos + hit->text.size();
    pos = stop;  // matches never overlap, even when this one is rejected below
    if (token.single_word) {
      const bool word_before = start > 0 && is_word_char(char_before(text, start));
      const bool word_after = stop < text.size() && is_word_char(char_at(text, stop));
      if (word_before || word_after) continue;
    }
    if (token.lstrip) start = std::max(whitespace_run_start(text, start), segment_start);
    if (token.rstrip) stop = whitespace_run_end(text, stop);
    if (segment_start < start) out.push_back({segment_start, start, std::nullopt});
    out.push_back({start, stop, token.id});
    segment_start = stop;
    pos = stop;
  }
  if (segment_start < text.size()) out.push_back({segment_start, text.size(), std::nullopt});
}

const AddedToken* AddedVocabulary::by_id(uint32_t id) const {
  auto it = index_by_id_.find(id);
  return it == index_by_id_.end() ? nullptr : &tokens_[it->second];
}

const AddedToken* AddedVocabulary::by_content(const std::string& content) const {
  auto it = index_by_content_.find(content);
  return it == index_by_content_.end() ? nullptr : &tokens_[it->second];
}

}  // namespace glmq
