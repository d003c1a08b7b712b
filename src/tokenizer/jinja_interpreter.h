#pragma once
// Renders a parsed template. Scoping follows jinja2: each for-loop iteration and each macro call
// gets a fresh child scope (assignments inside do not leak out), macros see the scope they were
// defined in as it is when they are called, and `namespace` objects carry state across scopes.
#include <memory>
#include <string>
#include <unordered_map>

#include "tokenizer/jinja_ast.h"

namespace glmq::jinja {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;

  const Value* lookup(const std::string& name) const;
};
using ScopePtr = std::shared_ptr<Scope>;

// Renders `body` with `globals` (names the template can read: messages, tools, helper functions).
std::string render(const Body& body, const ValueDict& globals);

// Fails (Config error) if the template names a filter or test that does not exist, as jinja2
// does when it compiles a template.
void check_filters_and_tests(const Body& body);

}  // namespace glmq::jinja
