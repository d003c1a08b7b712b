#pragma once
// Recognises the prefixes of a JSON object byte by byte: push() says whether the bytes so far can still
// become one complete object (RFC 8259 grammar, nesting up to 64 levels), complete() whether they already are.
// Being meant for generated answers, it is stricter than the grammar about blanks: the object starts at the
// first byte, and at most 16 blanks may follow each other outside strings, so that a model cannot spend its
// token budget on whitespace.
// The state is a small value, so a caller can copy it to try out a continuation (JSON mode tries every
// token of the vocabulary this way).
#include <array>
#include <cstdint>

namespace glmq::serve {

class JsonPrefix {
 public:
  bool push(unsigned char c);
  // The top-level object is closed (only whitespace may follow).
  bool complete() const { return state_ == State::Done; }

 private:
  enum class State : std::uint8_t {
    Start,        // before the top-level '{'
    Value,        // a value must start
    ObjectFirst,  // after '{': a key or '}'
    ObjectKey,    // after ',' in an object: a key
    Colon,        // after a key
    ArrayFirst,   // after '[': a value or ']'
    AfterValue,   // ',' or the container's end
    String,
    Escape,
    Unicode,      // inside \uXXXX
    Minus,        // after '-'
    Zero,         // "0" or "-0"
    Integer,      // [1-9][0-9]*
    FractionStart,
    Fraction,
    ExponentStart,
    ExponentSign,
    Exponent,
    Literal,      // inside true / false / null
    Done,
  };
  static constexpr int kMaxDepth = 64;
  static constexpr int kMaxBlankRun = 16;

  bool step(unsigned char c);
  bool close(unsigned char c);
  bool start_value(unsigned char c);
  bool end_number(unsigned char c);

  State state_ = State::Start;
  bool in_key_ = false;
  std::uint8_t left_ = 0;          // hex digits of a \u escape still expected
  const char* literal_ = nullptr;  // the rest of the literal being read
  int depth_ = 0;
  int blank_run_ = 0;
  std::array<char, kMaxDepth> stack_{};  // '{' or '['
};

}  // namespace glmq::serve
