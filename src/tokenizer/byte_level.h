#pragma once
// The GPT-2 byte-level alphabet: each of the 256 byte values is shown as one printable Unicode
// character, so BPE vocabularies can be stored as text. glmq runs BPE on raw bytes and only
// uses this mapping to read the vocabulary and merges.
#include <optional>
#include <string>
#include <string_view>

namespace glmq {

char32_t byte_to_alphabet_char(unsigned char byte);
std::optional<unsigned char> alphabet_char_to_byte(char32_t c);

// Raw bytes of a byte-level token string, or nullopt if it holds a character outside the alphabet.
std::optional<std::string> byte_level_to_bytes(std::string_view token);
std::string bytes_to_byte_level(std::string_view bytes);

}  // namespace glmq
