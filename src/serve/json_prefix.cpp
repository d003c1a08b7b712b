#include "serve/json_prefix.h"

namespace glmq::serve {

namespace {
bool is_space(unsigned char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_hex(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
}  // namespace

bool JsonPrefix::close(unsigned char c) {
  if (depth_ == 0 || stack_[static_cast<std::size_t>(depth_ - 1)] != (c == '}' ? '{' : '[')) return false;
  --depth_;
  state_ = depth_ == 0 ? State::Done : State::AfterValue;
  return true;
}

bool JsonPrefix::start_value(unsigned char c) {
  if (is_space(c)) return true;
  switch (c) {
    case '{':
    case '[':
      if (depth_ == kMaxDepth) return false;
      stack_[static_cast<std::size_t>(depth_++)] = static_cast<char>(c);
      state_ = c == '{' ? State::ObjectFirst : State::ArrayFirst;
      return true;
    case '"':
      state_ = State::String;
      in_key_ = false;
      return true;
    case '-':
      state_ = State::Minus;
      return true;
    case '0':
      state_ = State::Zero;
      return true;
    case 't':
      literal_ = "rue";
      break;
    case 'f':
      literal_ = "alse";
      break;
    case 'n':
      literal_ = "ull";
      break;
    default:
      if (c >= '1' && c <= '9') {
        state_ = State::Integer;
        return true;
      }
      return false;
  }
  state_ = State::Literal;
  return true;
}

// A number ends at the first byte that cannot continue it; that byte then belongs to what follows.
bool JsonPrefix::end_number(unsigned char c) {
  state_ = State::AfterValue;
  return step(c);
}

bool JsonPrefix::push(unsigned char c) {
  const bool in_string = state_ == State::String || state_ == State::Escape || state_ == State::Unicode;
  if (!in_string && is_space(c)) {
    if (state_ == State::Start || ++blank_run_ > kMaxBlankRun) return false;
  } else {
    blank_run_ = 0;
  }
  return step(c);
}

bool JsonPrefix::step(unsigned char c) {
  switch (state_) {
    case State::Start:
      return c == '{' && start_value(c);
    case State::Value:
      return start_value(c);
    case State::ObjectFirst:
      if (c == '}') return close(c);
      [[fallthrough]];
    case State::ObjectKey:
      if (is_space(c)) return true;
      if (c != '"') return false;
      state_ = State::String;
      in_key_ = true;
      return true;
    case State::Colon:
      if (is_space(c)) return true;
      if (c != ':') return false;
      state_ = State::Value;
      return true;
    case State::ArrayFirst:
      if (c == ']') return close(c);
      return start_value(c);
    case State::AfterValue:
      if (is_space(c)) return true;
      if (c == '}' || c == ']') return close(c);
      if (c != ',') return false;
      state_ = stack_[static_cast<std::size_t>(depth_ - 1)] == '{' ? State::ObjectKey : State::Value;
      return true;
    case State::String:
      if (c == '"') {
        state_ = in_key_ ? State::Colon : State::AfterValue;
        return true;
      }
      if (c == '\\') {
        state_ = State::Escape;
        return true;
      }
      return c >= 0x20;
    case State::Escape:
      if (c == 'u') {
        state_ = State::Unicode;
        left_ = 4;
        return true;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
        state_ = State::String;
        return true;
      }
      return false;
    case State::Unicode:
      if (!is_hex(c)) return false;
      if (--left_ == 0) state_ = State::String;
      return true;
    case State::Minus:
      if (c == '0') state_ = State::Zero;
      else if (c >= '1' && c <= '9') state_ = State::Integer;
      else return false;
      return true;
    case State::Zero:
    case State::Integer:
      if (state_ == State::Integer && is_digit(c)) return true;
      if (c == '.') {
        state_ = State::FractionStart;
        return true;
      }
      if (c == 'e' || c == 'E') {
        state_ = State::ExponentStart;
        return true;
      }
      return end_number(c);
    case State::FractionStart:
      if (!is_digit(c)) return false;
      state_ = State::Fraction;
      return true;
    case State::Fraction:
      if (is_digit(c)) return true;
      if (c == 'e' || c == 'E') {
        state_ = State::ExponentStart;
        return true;
      }
      return end_number(c);
    case State::ExponentStart:
      if (c == '+' || c == '-') {
        state_ = State::ExponentSign;
        return true;
      }
      [[fallthrough]];
    case State::ExponentSign:
      if (!is_digit(c)) return false;
      state_ = State::Exponent;
      return true;
    case State::Exponent:
      if (is_digit(c)) return true;
      return end_number(c);
    case State::Literal:
      if (c != static_cast<unsigned char>(*literal_)) return false;
      if (*++literal_ == '\0') state_ = State::AfterValue;
      return true;
    case State::Done:
      return is_space(c);
  }
  return false;
}

}  // namespace glmq::serve
