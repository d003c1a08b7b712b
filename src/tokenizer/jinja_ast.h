#pragma once
// The syntax tree of a parsed template: expressions and statements, with source lines for errors.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/jinja_value.h"

namespace glmq::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Kind {
    Literal,   // value
    Name,      // name
    List,      // children
    Tuple,     // children
    Dict,      // children: key, value, key, value, ...
    Attr,      // children[0].name
    Item,      // children[0][children[1]]
    Slice,     // children[0][a:b:c]; children[1..3] may be null
    Call,      // children[0](children[1..], kwargs)
    Filter,    // children[0] | name(children[1..], kwargs)
    Test,      // children[0] is [not] name(children[1..], kwargs)
    Unary,     // name in {"-", "+", "not"}
    Binary,    // children[0] name children[1]; name is an arithmetic operator, "~", "and", "or"
    Compare,   // children[0] ops[0] children[1] ops[1] children[2] ... (chained like Python)
    Condition  // children[1] if children[0] else children[2] (children[2] may be null)
  };
  Kind kind;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> children;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Kind {
    Text,      // text
    Output,    // {{ expr }}
    If,        // branches (condition, body); a null condition is the else branch
    For,       // targets in expr [if condition]: body [else else_body]
    Set,       // targets = expr, or attr_target.attr = expr
    SetBlock,  // {% set targets[0] %}body{% endset %}
    Macro,     // name(params): body
    Break,
    Continue,
    Passthrough  // {% generation %}body{% endgeneration %}: rendered as is
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr condition;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  std::string attr_target;
  std::string attr;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;
};

}  // namespace glmq::jinja
