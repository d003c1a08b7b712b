#include "tokenizer/jinja_parser.h"

#include <set>

#include "core/error.h"
#include "tokenizer/jinja_lexer.h"

namespace glmq::jinja {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (peek().type != TokenType::End) error("unexpected tag '" + block_name() + "'");
    return body;
  }

 private:
  // ---- token helpers ----
  const Token& peek(std::size_t ahead = 0) const {
    const std::size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  [[noreturn]] void error(const std::string& message) const {
    fail(ErrorKind::Config, "chat template: line " + std::to_string(peek().line) + ": " + message);
  }
  bool at_op(const char* op) const { return peek().type == TokenType::Op && peek().text == op; }
  bool at_name(const char* name) const { return peek().type == TokenType::Name && peek().text == name; }
  void expect_op(const char* op) {
    if (!at_op(op)) error(std::string("expected '") + op + "', found '" + describe(peek()) + "'");
    next();
  }
  std::string expect_name() {
    if (peek().type != TokenType::Name) error("expected a name, found '" + describe(peek()) + "'");
    return next().text;
  }
  void expect_block_end() {
    if (peek().type != TokenType::BlockEnd) error("expected end of tag '%}', found '" + describe(peek()) + "'");
    next();
  }
  static std::string describe(const Token& t) {
    switch (t.type) {
      case TokenType::End: return "end of template";
      case TokenType::BlockEnd: return "%}";
      case TokenType::VarEnd: return "}}";
      default: return t.text;
    }
  }
  // Name of the statement at a BlockBegin token.
  std::string block_name() const {
    return peek().type == TokenType::BlockBegin && peek(1).type == TokenType::Name ? peek(1).text : describe(peek());
  }

  // ---- statements ----
  // Parses nodes until a block whose name is in `stop` (left unconsumed) or the end.
  Body parse_body(const std::set<std::string>& stop) {
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.type == TokenType::End) {
        if (!stop.empty()) {
          std::string expected;
          for (const std::string& name : stop) expected += (expected.empty() ? "'" : " or '") + name + "'";
          error("unexpected end of template, expected " + expected);
        }
        return body;
      }
      if (t.type == TokenType::Text) {
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::Text;
        n->line = t.line;
        n->text = next().text;
        body.push_back(std::move(n));
      } else if (t.type == TokenType::VarBegin) {
        next();
        auto n = std::make_unique<Node>();
        n->kind = Node::Kind::Output;
        n->line = t.line;
        n->expr = parse_tuple(true);
        if (peek().type != TokenType::VarEnd) error("expected '}}', found '" + describe(peek()) + "'");
        next();
        body.push_back(std::move(n));
      } else if (t.type == TokenType::BlockBegin) {
        const std::string name = block_name();
        if (stop.count(name)) return body;
        next();
        body.push_back(parse_statement());
      } else {
        error("unexpected '" + describe(t) + "'");
      }
    }
  }

  NodePtr parse_statement() {
    const int line = peek().line;
    const std::string keyword = expect_name();
    NodePtr n;
    if (keyword == "if") n = parse_if();
    else if (keyword == "for") n = parse_for();
    else if (keyword == "set") n = parse_set();
    else if (keyword == "macro") n = parse_macro();
    else if (keyword == "break" || keyword == "continue") {
      n = std::make_unique<Node>();
      n->kind = keyword == "break" ? Node::Kind::Break : Node::Kind::Continue;
      expect_block_end();
    } else if (keyword == "generation") {
      n = std::make_unique<Node>();
      n->kind = Node::Kind::Passthrough;
      expect_block_end();
      n->body = parse_body({"endgeneration"});
      end_block("endgeneration");
    } else {
      error("unsupported or unknown tag '" + keyword + "'");
    }
    n->line = line;
    return n;
  }

  void end_block(const char* name) {
    next();  // BlockBegin
    if (expect_name() != name) error(std::string("expected '") + name + "'");
    expect_block_end();
  }

  NodePtr parse_if() {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::If;
    ExprPtr cond = parse_tuple(true);
    expect_block_end();
    while (true) {
      Body body = parse_body({"elif", "else", "endif"});
      n->branches.emplace_back(std::move(cond), std::move(body));
      const std::string which = block_name();
      next();
      next();
      if (which == "elif") {
        cond = parse_tuple(true);
        expect_block_end();
      } else if (which == "else") {
        expect_block_end();
        n->branches.emplace_back(nullptr, parse_body({"endif"}));
        end_block("endif");
        return n;
      } else {
        expect_block_end();
        return n;
      }
    }
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> targets;
    const bool paren = at_op("(");
    if (paren) next();
    targets.push_back(expect_name());
    while (at_op(",")) {
      next();
      if (peek().type != TokenType::Name) break;
      targets.push_back(expect_name());
    }
    if (paren) expect_op(")");
    return targets;
  }

  NodePtr parse_for() {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::For;
    n->targets = parse_targets();
    if (!at_name("in")) error("expected 'in' in for loop");
    next();
    n->expr = parse_tuple(false);
    if (at_name("if")) {
      next();
      n->condition = parse_expression(true);
    }
    if (at_name("recursive")) error("recursive for loops are not supported");
    expect_block_end();
    n->body = parse_body({"else", "endfor"});
    if (block_name() == "else") {
      next();
      next();
      expect_block_end();
      n->else_body = parse_body({"endfor"});
    }
    end_block("endfor");
    return n;
  }

  NodePtr parse_set() {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::Set;
    if (peek().type == TokenType::Name && peek(1).type == TokenType::Op && peek(1).text == ".") {
      n->attr_target = expect_name();
      next();
      n->attr = expect_name();
    } else {
      n->targets = parse_targets();
    }
    if (peek().type == TokenType::BlockEnd && n->attr.empty() && n->targets.size() == 1) {
      next();
      n->kind = Node::Kind::SetBlock;
      n->body = parse_body({"endset"});
      end_block("endset");
      return n;
    }
    expect_op("=");
    n->expr = parse_tuple(true);
    expect_block_end();
    return n;
  }

  NodePtr parse_macro() {
    auto n = std::make_unique<Node>();
    n->kind = Node::Kind::Macro;
    n->name = expect_name();
    expect_op("(");
    while (!at_op(")")) {
      std::string param = expect_name();
      ExprPtr fallback;
      if (at_op("=")) {
        next();
        fallback = parse_expression(true);
      }
      n->params.emplace_back(std::move(param), std::move(fallback));
      if (!at_op(",")) break;
      next();
    }
    expect_op(")");
    expect_block_end();
    n->body = parse_body({"endmacro"});
    end_block("endmacro");
    return n;
  }

  // ---- expressions ----
  ExprPtr make(Expr::Kind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // A bare comma-separated list is a tuple: {{ a, b }} and {% set a = 1, 2 %}.
  ExprPtr parse_tuple(bool with_condition) {
    const int line = peek().line;
    ExprPtr first = parse_expression(with_condition);
    if (!at_op(",")) return first;
    auto tuple = make(Expr::Kind::Tuple, line);
    tuple->children.push_back(std::move(first));
    while (at_op(",")) {
      next();
      if (peek().type == TokenType::BlockEnd || peek().type == TokenType::VarEnd || at_name("if")) break;
      tuple->children.push_back(parse_expression(with_condition));
    }
    return tuple;
  }

  ExprPtr parse_expression(bool with_condition) {
    const int line = peek().line;
    ExprPtr e = parse_or();
    if (!with_condition) return e;
    while (at_name("if")) {
      next();
      auto cond = make(Expr::Kind::Condition, line);
      cond->children.push_back(parse_or());
      cond->children.push_back(std::move(e));
      if (at_name("else")) {
        next();
        cond->children.push_back(parse_expression(true));
      } else {
        cond->children.push_back(nullptr);
      }
      e = std::move(cond);
    }
    return e;
  }

  ExprPtr binary(std::string op, ExprPtr left, ExprPtr right, int line) {
    auto e = make(Expr::Kind::Binary, line);
    e->name = std::move(op);
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (at_name("or")) {
      const int line = next().line;
      e = binary("or", std::move(e), parse_and(), line);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (at_name("and")) {
      const int line = next().line;
      e = binary("and", std::move(e), parse_not(), line);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (at_name("not")) {
      const int line = next().line;
      auto e = make(Expr::Kind::Unary, line);
      e->name = "not";
      e->children.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    const int line = peek().line;
    ExprPtr first = parse_math1();
    ExprPtr cmp;
    while (true) {
      std::string op;
      if (peek().type == TokenType::Op &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == "<=" ||
           peek().text == ">" || peek().text == ">=")) {
        op = next().text;
      } else if (at_name("in")) {
        next();
        op = "in";
      } else if (at_name("not") && peek(1).type == TokenType::Name && peek(1).text == "in") {
        next();
        next();
        op = "not in";
      } else {
        break;
      }
      if (!cmp) {
        cmp = make(Expr::Kind::Compare, line);
        cmp->children.push_back(std::move(first));
      }
      cmp->ops.push_back(op);
      cmp->children.push_back(parse_math1());
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (at_op("+") || at_op("-")) {
      const Token& t = next();
      e = binary(t.text == "+" ? "+" : "-", std::move(e), parse_concat(), t.line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (at_op("~")) {
      const int line = next().line;
      e = binary("~", std::move(e), parse_math2(), line);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (at_op("*") || at_op("/") || at_op("//") || at_op("%")) {
      const Token& t = next();
      const std::string op = t.text;
      e = binary(op == "*" ? "*" : op == "/" ? "/" : op == "//" ? "//" : "%", std::move(e), parse_pow(), t.line);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (at_op("**")) {
      const int line = next().line;
      e = binary("**", std::move(e), parse_unary(true), line);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    ExprPtr e;
    if (at_op("-") || at_op("+")) {
      const Token& t = next();
      e = make(Expr::Kind::Unary, t.line);
      e->name = t.text == "-" ? "-" : "+";
      e->children.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filters(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = peek();
    if (t.type == TokenType::Name) {
      next();
      if (t.text == "true" || t.text == "True") return literal(Value(true), t.line);
      if (t.text == "false" || t.text == "False") return literal(Value(false), t.line);
      if (t.text == "none" || t.text == "None") return literal(Value::none(), t.line);
      auto e = make(Expr::Kind::Name, t.line);
      e->name = t.text;
      return e;
    }
    if (t.type == TokenType::String) {
      std::string s = next().text;
      while (peek().type == TokenType::String) s += next().text;  // adjacent literals concatenate
      return literal(Value(std::move(s)), t.line);
    }
    if (t.type == TokenType::Int) {
      next();
      try {
        return literal(Value(static_cast<int64_t>(std::stoll(t.text))), t.line);
      } catch (const std::exception&) {
        error("integer literal " + t.text + " is out of range");
      }
    }
    if (t.type == TokenType::Float) {
      next();
      return literal(Value(std::stod(t.text)), t.line);
    }
    if (at_op("(")) {
      next();
      if (at_op(")")) {
        next();
        return make(Expr::Kind::Tuple, t.line);
      }
      ExprPtr first = parse_expression(true);
      if (at_op(")")) {
        next();
        return first;
      }
      auto tuple = make(Expr::Kind::Tuple, t.line);
      tuple->children.push_back(std::move(first));
      while (at_op(",")) {
        next();
        if (at_op(")")) break;
        tuple->children.push_back(parse_expression(true));
      }
      expect_op(")");
      return tuple;
    }
    if (at_op("[")) {
      next();
      auto list = make(Expr::Kind::List, t.line);
      while (!at_op("]")) {
        list->children.push_back(parse_expression(true));
        if (!at_op(",")) break;
        next();
      }
      expect_op("]");
      return list;
    }
    if (at_op("{")) {
      next();
      auto dict = make(Expr::Kind::Dict, t.line);
      while (!at_op("}")) {
        dict->children.push_back(parse_expression(true));
        expect_op(":");
        dict->children.push_back(parse_expression(true));
        if (!at_op(",")) break;
        next();
      }
      expect_op("}");
      return dict;
    }
    error("unexpected '" + describe(t) + "' in expression");
  }

  ExprPtr literal(Value v, int line) {
    auto e = make(Expr::Kind::Literal, line);
    e->value = std::move(v);
    return e;
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (at_op(".")) {
        const int line = next().line;
        auto attr = make(Expr::Kind::Attr, line);
        if (peek().type == TokenType::Int) {
          // x.0 is x[0] in jinja2
          attr->kind = Expr::Kind::Item;
          attr->children.push_back(std::move(e));
          attr->children.push_back(literal(Value(static_cast<int64_t>(std::stoll(next().text))), line));
        } else {
          attr->name = expect_name();
          attr->children.push_back(std::move(e));
        }
        e = std::move(attr);
      } else if (at_op("[")) {
        const int line = next().line;
        e = parse_subscript(std::move(e), line);
      } else if (at_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target, int line) {
    ExprPtr parts[3];
    int part = 0;
    bool is_slice = false;
    while (!at_op("]")) {
      if (at_op(":")) {
        next();
        is_slice = true;
        if (++part > 2) error("too many ':' in subscript");
        continue;
      }
      if (parts[part]) error("unexpected expression in subscript");
      parts[part] = parse_expression(true);
    }
    expect_op("]");
    if (!is_slice) {
      if (!parts[0]) error("empty subscript");
      auto item = make(Expr::Kind::Item, line);
      item->children.push_back(std::move(target));
      item->children.push_back(std::move(parts[0]));
      return item;
    }
    auto slice = make(Expr::Kind::Slice, line);
    slice->children.push_back(std::move(target));
    for (auto& p : parts) slice->children.push_back(std::move(p));
    return slice;
  }

  void parse_arguments(Expr& call) {
    expect_op("(");
    while (!at_op(")")) {
      if (peek().type == TokenType::Name && peek(1).type == TokenType::Op && peek(1).text == "=") {
        std::string key = next().text;
        next();
        call.kwargs.emplace_back(std::move(key), parse_expression(true));
      } else {
        if (!call.kwargs.empty()) error("positional argument after keyword argument");
        call.children.push_back(parse_expression(true));
      }
      if (!at_op(",")) break;
      next();
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto call = make(Expr::Kind::Call, peek().line);
    call->children.push_back(std::move(callee));
    parse_arguments(*call);
    return call;
  }

  ExprPtr parse_filters(ExprPtr e) {
    while (true) {
      if (at_op("|")) {
        const int line = next().line;
        auto f = make(Expr::Kind::Filter, line);
        f->name = expect_name();
        while (at_op(".")) {
          next();
          f->name.push_back('.');
          f->name += expect_name();
        }
        f->children.push_back(std::move(e));
        if (at_op("(")) parse_arguments(*f);
        e = std::move(f);
      } else if (at_name("is")) {
        const int line = next().line;
        auto t = make(Expr::Kind::Test, line);
        if (at_name("not")) {
          next();
          t->negated = true;
        }
        t->name = expect_name();
        t->children.push_back(std::move(e));
        if (at_op("(")) {
          parse_arguments(*t);
        } else if (starts_test_argument()) {
          t->children.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (at_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  // jinja2 lets a test take one argument without parentheses: `x is divisibleby 3`.
  bool starts_test_argument() const {
    const Token& t = peek();
    if (t.type == TokenType::String || t.type == TokenType::Int || t.type == TokenType::Float) return true;
    if (t.type == TokenType::Op) return t.text == "[" || t.text == "{";
    if (t.type != TokenType::Name) return false;
    static const std::set<std::string> kStop = {"else", "or", "and", "if", "in", "not", "is"};
    return kStop.count(t.text) == 0;
  }

  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

}  // namespace

Body parse_template(const std::string& source) { return Parser(tokenize_template(source)).parse_all(); }

}  // namespace glmq::jinja
