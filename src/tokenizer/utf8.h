#pragma once
// UTF-8 helpers shared by the tokenizer and the template engine. Invalid input is never guessed at:
// it is either reported or replaced the way Rust's from_utf8_lossy and Python's errors="replace" do
// (one U+FFFD per maximal invalid subpart), so glmq matches HF on the same bytes.
#include <cstddef>
#include <string>
#include <string_view>

namespace glmq::utf8 {

inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// What starts at a byte position: a complete valid character (length > 0), an invalid subpart
// (length of the maximal invalid subpart), or a valid but truncated prefix (length of the prefix).
enum class SequenceKind { Valid, Invalid, Truncated };
struct Sequence {
  SequenceKind kind;
  std::size_t length;
};
Sequence classify(std::string_view bytes, std::size_t pos);

bool is_valid(std::string_view bytes);
// Valid input is returned unchanged; each maximal invalid subpart becomes U+FFFD.
std::string to_valid_lossy(std::string_view bytes);

// Decodes the code point at pos (input must be valid there) and advances pos past it.
char32_t decode(std::string_view valid, std::size_t& pos);
void append(std::string& out, char32_t code_point);
std::size_t count_code_points(std::string_view valid);
// Unicode White_Space (what Rust's char::is_whitespace and regex \s accept).
bool is_white_space(char32_t c);

}  // namespace glmq::utf8
