#pragma once
// Python str operations on UTF-8 text, as templates call them (s.strip(), s.split(), s[1:], ...).
// Python indexes strings by code point, so these work on code points, not bytes.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace glmq::jinja::pystr {

bool is_space(char32_t c);  // str.isspace()
std::u32string to_u32(const std::string& s);
std::string from_u32(const std::u32string& s);

std::string strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right);
// str.split(sep, maxsplit) with sep=None splitting on whitespace runs.
std::vector<std::string> split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> rsplit(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> splitlines(const std::string& s, bool keepends);
std::string replace(const std::string& s, const std::string& old, const std::string& replacement, int64_t count);
std::string upper(const std::string& s);
std::string lower(const std::string& s);
std::string capitalize(const std::string& s);
std::string title(const std::string& s);
// Number of non-overlapping occurrences (str.count), and str.find in code points (-1 if absent).
int64_t count(const std::string& s, const std::string& sub);
int64_t find(const std::string& s, const std::string& sub, bool from_right);
bool all_chars(const std::string& s, bool (*predicate)(char32_t));
bool is_alpha(char32_t c);
bool is_digit(char32_t c);
bool is_alnum(char32_t c);

// Python slice semantics on a length: fills the indices a[start:stop:step] selects.
std::vector<int64_t> slice_indices(int64_t length, std::optional<int64_t> start, std::optional<int64_t> stop,
                                   std::optional<int64_t> step);

}  // namespace glmq::jinja::pystr
