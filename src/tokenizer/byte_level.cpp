#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace glmq {
namespace {

bool shown_as_itself(unsigned b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174); }

struct Alphabet {
  std::array<char32_t, 256> to_char{};
  Alphabet() {
    char32_t next_extra = 256;  // bytes that are not printable get U+0100, U+0101, ... in byte order
    for (unsigned b = 0; b < 256; ++b) to_char[b] = shown_as_itself(b) ? b : next_extra++;
  }
};

const Alphabet& alphabet() {
  static const Alphabet a;
  return a;
}

}  // namespace

char32_t byte_to_alphabet_char(unsigned char byte) { return alphabet().to_char[byte]; }

std::optional<unsigned char> alphabet_char_to_byte(char32_t c) {
  if (c < 256 && shown_as_itself(static_cast<unsigned>(c))) return static_cast<unsigned char>(c);
  if (c >= 256 && c < 256 + 68) {
    unsigned index = static_cast<unsigned>(c - 256);
    for (unsigned b = 0; b < 256; ++b) {
      if (!shown_as_itself(b) && index-- == 0) return static_cast<unsigned char>(b);
    }
  }
  return std::nullopt;
}

std::optional<std::string> byte_level_to_bytes(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  std::size_t pos = 0;
  while (pos < token.size()) {
    const auto seq = utf8::classify(token, pos);
    if (seq.kind != utf8::SequenceKind::Valid) return std::nullopt;
    const auto byte = alphabet_char_to_byte(utf8::decode(token, pos));
    if (!byte) return std::nullopt;
    out.push_back(static_cast<char>(*byte));
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  for (char c : bytes) utf8::append(out, byte_to_alphabet_char(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace glmq
