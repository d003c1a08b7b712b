#pragma once
// Splits a template into text and tag tokens with jinja2's whitespace rules as transformers
// configures them: trim_blocks (drop the newline after a block or comment tag), lstrip_blocks
// (drop spaces/tabs before a block or comment tag that starts a line), "-" and "+" modifiers,
// newline normalization and removal of one trailing newline.
#include <string>
#include <vector>

namespace glmq::jinja {

enum class TokenType { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, End };

struct Token {
  TokenType type;
  std::string text;  // text data, name, decoded string literal, number literal or operator
  int line;
};

struct LexerOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

std::vector<Token> tokenize_template(const std::string& source, const LexerOptions& options = {});

}  // namespace glmq::jinja
