#include "tokenizer/jinja_lexer.h"

#include <cstring>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace glmq::jinja {
namespace {

[[noreturn]] void syntax_error(int line, const std::string& message) {
  fail(ErrorKind::Config, "chat template: line " + std::to_string(line) + ": " + message);
}

bool is_python_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string normalize_newlines(const std::string& source) {
  std::string out;
  out.reserve(source.size());
  for (std::size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      out.push_back(source[i]);
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();  // keep_trailing_newline=False
  return out;
}

class Lexer {
 public:
  Lexer(std::string source, const LexerOptions& options) : src_(std::move(source)), options_(options) {}

  std::vector<Token> run() {
    while (pos_ < src_.size()) {
      const std::size_t open = find_tag_start(pos_);
      std::string text = src_.substr(pos_, open - pos_);
      if (open == src_.size()) {
        emit_text(std::move(text));
        break;
      }
      const char kind = src_[open + 1];  // '{', '%' or '#'
      const char modifier = open + 2 < src_.size() ? src_[open + 2] : '\0';
      if (modifier == '-') {
        while (!text.empty() && is_python_space(text.back())) text.pop_back();
      } else if (modifier != '+' && kind != '{' && options_.lstrip_blocks) {
        lstrip_line(text);
      }
      emit_text(std::move(text));
      pos_ = open + 2 + ((modifier == '-' || modifier == '+') ? 1 : 0);
      if (kind == '#') {
        skip_comment();
      } else if (kind == '{') {
        tokens_.push_back({TokenType::VarBegin, "", line_at(open)});
        lex_tag_body("}}");
      } else {
        lex_block();
      }
    }
    tokens_.push_back({TokenType::End, "", line_at(src_.size())});
    return std::move(tokens_);
  }

 private:
  std::size_t find_tag_start(std::size_t from) const {
    std::size_t at = from;
    while ((at = src_.find('{', at)) != std::string::npos) {
      if (at + 1 < src_.size() && (src_[at + 1] == '{' || src_[at + 1] == '%' || src_[at + 1] == '#')) return at;
      ++at;
    }
    return src_.size();
  }

  int line_at(std::size_t p) {
    while (line_pos_ < p && line_pos_ < src_.size()) {
      if (src_[line_pos_] == '\n') ++line_;
      ++line_pos_;
    }
    return line_;
  }

  // lstrip_blocks: spaces and tabs between the start of the line and the tag go away.
  void lstrip_line(std::string& text) const {
    const std::size_t nl = text.rfind('\n');
    const std::size_t line_start = nl == std::string::npos ? 0 : nl + 1;
    if (nl == std::string::npos && !line_starting_) return;
    for (std::size_t i = line_start; i < text.size(); ++i) {
      if (text[i] != ' ' && text[i] != '\t') return;
    }
    text.resize(line_start);
  }

  void emit_text(std::string text) {
    if (!text.empty()) tokens_.push_back({TokenType::Text, std::move(text), line_at(pos_)});
  }

  // After a tag: "-" strips all following whitespace; trim_blocks drops one newline after blocks/comments.
  void finish_tag(bool strip_after, bool is_block) {
    const std::size_t start = pos_;
    if (strip_after) {
      while (pos_ < src_.size() && is_python_space(src_[pos_])) ++pos_;
    } else if (is_block && options_.trim_blocks && pos_ < src_.size() && src_[pos_] == '\n') {
      ++pos_;
    }
    const bool consumed_newline = pos_ > start && src_[pos_ - 1] == '\n';
    line_starting_ = consumed_newline;
  }

  void skip_comment() {
    const int line = line_at(pos_);
    const std::size_t close = src_.find("#}", pos_);
    if (close == std::string::npos) syntax_error(line, "unterminated comment");
    const bool strip = close > pos_ && src_[close - 1] == '-';
    pos_ = close + 2;
    finish_tag(strip, true);
  }

  void lex_block() {
    const std::size_t body_start = tokens_.size();
    tokens_.push_back({TokenType::BlockBegin, "", line_at(pos_)});
    lex_tag_body("%}");
    // {% raw %}: everything up to {% endraw %} is text.
    if (tokens_.size() == body_start + 3 && tokens_[body_start + 1].type == TokenType::Name &&
        tokens_[body_start + 1].text == "raw") {
      tokens_.resize(body_start);
      lex_raw();
    }
  }

  void lex_raw() {
    const int line = line_at(pos_);
    std::size_t search = pos_;
    while (true) {
      const std::size_t open = src_.find("{%", search);
      if (open == std::string::npos) syntax_error(line, "missing {% endraw %}");
      std::size_t p = open + 2;
      const bool strip_before = p < src_.size() && src_[p] == '-';
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) ++p;
      while (p < src_.size() && is_python_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      p += 6;
      while (p < src_.size() && is_python_space(src_[p])) ++p;
      bool strip_after = false;
      if (p < src_.size() && src_[p] == '-') {
        strip_after = true;
        ++p;
      }
      if (src_.compare(p, 2, "%}") != 0) syntax_error(line, "malformed {% endraw %}");
      std::string text = src_.substr(pos_, open - pos_);
      if (strip_before) {
        while (!text.empty() && is_python_space(text.back())) text.pop_back();
      }
      emit_text(std::move(text));
      pos_ = p + 2;
      finish_tag(strip_after, true);
      return;
    }
  }

  void lex_tag_body(const char* close) {
    const int line = line_at(pos_);
    const bool is_block = close[0] == '%';
    int depth = 0;  // brackets: a "}}" inside {...} literals is not the end of the tag
    while (true) {
      while (pos_ < src_.size() && is_python_space(src_[pos_])) ++pos_;
      if (pos_ >= src_.size()) syntax_error(line, std::string("unexpected end of template, expected '") + close + "'");
      if (depth == 0 && src_[pos_] == '-' && src_.compare(pos_ + 1, 2, close) == 0) {
        pos_ += 3;
        tokens_.push_back({is_block ? TokenType::BlockEnd : TokenType::VarEnd, "", line});
        finish_tag(true, is_block);
        return;
      }
      if (depth == 0 && src_.compare(pos_, 2, close) == 0) {
        pos_ += 2;
        tokens_.push_back({is_block ? TokenType::BlockEnd : TokenType::VarEnd, "", line});
        finish_tag(false, is_block);
        return;
      }
      const char c = src_[pos_];
      if (c == '\'' || c == '"') {
        tokens_.push_back({TokenType::String, lex_string(), line});
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number(line);
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        std::size_t e = pos_;
        while (e < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
        tokens_.push_back({TokenType::Name, src_.substr(pos_, e - pos_), line});
        pos_ = e;
      } else {
        static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                           "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"};
        const char* op = nullptr;
        for (const char* candidate : kOps) {
          if (src_.compare(pos_, std::strlen(candidate), candidate) == 0) {
            op = candidate;
            break;
          }
        }
        if (op == nullptr) syntax_error(line, std::string("unexpected character '") + c + "'");
        if (op[0] == '(' || op[0] == '[' || op[0] == '{') ++depth;
        if ((op[0] == ')' || op[0] == ']' || op[0] == '}') && depth > 0) --depth;
        tokens_.push_back({TokenType::Op, op, line});
        pos_ += std::strlen(op);
      }
    }
  }

  void lex_number(int line) {
    std::size_t e = pos_;
    bool is_float = false;
    auto digits = [&] {
      while (e < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[e])) || src_[e] == '_')) ++e;
    };
    digits();
    if (e + 1 < src_.size() && src_[e] == '.' && std::isdigit(static_cast<unsigned char>(src_[e + 1]))) {
      is_float = true;
      ++e;
      digits();
    }
    if (e < src_.size() && (src_[e] == 'e' || src_[e] == 'E')) {
      std::size_t x = e + 1;
      if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
      if (x < src_.size() && std::isdigit(static_cast<unsigned char>(src_[x]))) {
        is_float = true;
        e = x;
        digits();
      }
    }
    std::string text;
    for (std::size_t i = pos_; i < e; ++i) {
      if (src_[i] != '_') text.push_back(src_[i]);
    }
    tokens_.push_back({is_float ? TokenType::Float : TokenType::Int, text, line});
    pos_ = e;
  }

  // Python string literal with the escapes of the "unicode-escape" codec jinja2 applies.
  std::string lex_string() {
    const int line = line_at(pos_);
    const char quote = src_[pos_++];
    std::string out;
    while (true) {
      if (pos_ >= src_.size()) syntax_error(line, "unterminated string literal");
      const char c = src_[pos_++];
      if (c == quote) return out;
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= src_.size()) syntax_error(line, "unterminated string literal");
      const char e = src_[pos_++];
      auto hex = [&](int n) {
        if (pos_ + static_cast<std::size_t>(n) > src_.size()) syntax_error(line, "truncated escape in string literal");
        const std::string digits = src_.substr(pos_, static_cast<std::size_t>(n));
        for (char d : digits) {
          if (!std::isxdigit(static_cast<unsigned char>(d))) syntax_error(line, "bad escape in string literal");
        }
        pos_ += static_cast<std::size_t>(n);
        return static_cast<char32_t>(std::stoul(digits, nullptr, 16));
      };
      switch (e) {
        case 'n': out.push_back('\n'); break;
        case 't': out.push_back('\t'); break;
        case 'r': out.push_back('\r'); break;
        case '\\': out.push_back('\\'); break;
        case '\'': out.push_back('\''); break;
        case '"': out.push_back('"'); break;
        case 'a': out.push_back('\a'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'v': out.push_back('\v'); break;
        case '\n': break;  // line continuation
        case 'x': utf8::append(out, hex(2)); break;
        case 'u': utf8::append(out, hex(4)); break;
        case 'U': {
          const char32_t cp = hex(8);
          if (cp > 0x10FFFF) syntax_error(line, "escape beyond U+10FFFF in string literal");
          utf8::append(out, cp);
          break;
        }
        default:
          if (e >= '0' && e <= '7') {
            char32_t v = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && pos_ < src_.size() && src_[pos_] >= '0' && src_[pos_] <= '7'; ++k) {
              v = v * 8 + static_cast<char32_t>(src_[pos_++] - '0');
            }
            utf8::append(out, v);
          } else {
            out.push_back('\\');  // unknown escapes stay as written
            out.push_back(e);
          }
      }
    }
  }

  std::string src_;
  LexerOptions options_;
  std::size_t pos_ = 0;
  bool line_starting_ = true;
  std::size_t line_pos_ = 0;
  int line_ = 1;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> tokenize_template(const std::string& source, const LexerOptions& options) {
  if (!utf8::is_valid(source)) fail(ErrorKind::Config, "chat template: the template is not valid UTF-8");
  return Lexer(normalize_newlines(source), options).run();
}

}  // namespace glmq::jinja
