#pragma once
// Parses template tokens into a syntax tree (the statement and expression grammar of jinja2
// that chat templates use). Syntax errors are Config errors naming the line.
#include <string>

#include "tokenizer/jinja_ast.h"

namespace glmq::jinja {

Body parse_template(const std::string& source);

}  // namespace glmq::jinja
