#include "tokenizer/jinja_interpreter.h"

#include <cmath>

#include "core/error.h"
#include "tokenizer/jinja_builtins.h"

namespace glmq::jinja {

const Value* Scope::lookup(const std::string& name) const {
  for (const Scope* s = this; s != nullptr; s = s->parent.get()) {
    auto it = s->vars.find(name);
    if (it != s->vars.end()) return &it->second;
  }
  return nullptr;
}

namespace {

enum class Flow { Normal, Break, Continue };

constexpr int kMaxCallDepth = 200;  // runaway recursive macros fail cleanly instead of exhausting the stack

std::string at_line(int line) { return "line " + std::to_string(line) + ": "; }

class Interpreter {
 public:
  Flow exec(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const NodePtr& node : body) {
      const Flow f = exec(*node, scope, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

 private:
  Flow exec(const Node& n, const ScopePtr& scope, std::string& out) {
    switch (n.kind) {
      case Node::Kind::Text: out += n.text; return Flow::Normal;
      case Node::Kind::Output: out += to_str(eval(*n.expr, scope)); return Flow::Normal;
      case Node::Kind::If:
        for (const auto& [cond, body] : n.branches) {
          if (!cond || eval(*cond, scope).truthy()) return exec(body, scope, out);
        }
        return Flow::Normal;
      case Node::Kind::For: return exec_for(n, scope, out);
      case Node::Kind::Set: {
        Value v = eval(*n.expr, scope);
        if (!n.attr.empty()) {
          const Value* target = scope->lookup(n.attr_target);
          if (!target || !target->is_namespace()) {
            render_error(at_line(n.line) + "cannot assign attribute on non-namespace object '" + n.attr_target + "'");
          }
          target->mutable_dict().set(n.attr, std::move(v));
        } else {
          assign(n.targets, std::move(v), *scope, n.line);
        }
        return Flow::Normal;
      }
      case Node::Kind::SetBlock: {
        std::string captured;
        exec(n.body, scope, captured);
        scope->vars[n.targets[0]] = Value(std::move(captured));
        return Flow::Normal;
      }
      case Node::Kind::Macro: scope->vars[n.name] = make_macro(n, scope); return Flow::Normal;
      case Node::Kind::Break: return Flow::Break;
      case Node::Kind::Continue: return Flow::Continue;
      case Node::Kind::Passthrough: return exec(n.body, scope, out);
    }
    return Flow::Normal;
  }

  static void assign(const std::vector<std::string>& targets, Value v, Scope& scope, int line) {
    if (targets.size() == 1) {
      scope.vars[targets[0]] = std::move(v);
      return;
    }
    const ValueList items = iterate(v);
    if (items.size() != targets.size()) {
      render_error(at_line(line) + "cannot unpack " + std::to_string(items.size()) + " values into " +
                   std::to_string(targets.size()) + " names");
    }
    for (std::size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = items[i];
  }

  Flow exec_for(const Node& n, const ScopePtr& scope, std::string& out) {
    const Value iterable = eval(*n.expr, scope);
    if (iterable.is_none() || iterable.is_number()) {
      render_error(at_line(n.line) + "'" + iterable.type_name() + "' object is not iterable");
    }
    ValueList items = iterate(iterable);
    if (n.condition) {
      // The loop filter runs first, so loop.length and loop.last count only kept items.
      ValueList kept;
      for (Value& item : items) {
        auto probe = std::make_shared<Scope>();
        probe->parent = scope;
        assign(n.targets, item, *probe, n.line);
        if (eval(*n.condition, probe).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      exec(n.else_body, scope, out);
      return Flow::Normal;
    }
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < length; ++i) {
      auto iteration = std::make_shared<Scope>();
      iteration->parent = scope;
      assign(n.targets, items[static_cast<std::size_t>(i)], *iteration, n.line);
      ValueDict loop;
      loop.set("index", Value(i + 1));
      loop.set("index0", Value(i));
      loop.set("revindex", Value(length - i));
      loop.set("revindex0", Value(length - i - 1));
      loop.set("first", Value(i == 0));
      loop.set("last", Value(i == length - 1));
      loop.set("length", Value(length));
      loop.set("depth", Value(int64_t{1}));
      loop.set("depth0", Value(int64_t{0}));
      if (i > 0) loop.set("previtem", items[static_cast<std::size_t>(i - 1)]);
      if (i + 1 < length) loop.set("nextitem", items[static_cast<std::size_t>(i + 1)]);
      loop.set("cycle", Value::function("cycle", [i](CallArgs& a) {
        if (a.positional.empty()) render_error("loop.cycle(): no items given");
        return a.positional[static_cast<std::size_t>(i) % a.positional.size()];
      }));
      iteration->vars["loop"] = Value::namespace_object(std::move(loop));
      if (exec(n.body, iteration, out) == Flow::Break) break;
    }
    return Flow::Normal;
  }

  // A macro holds its defining scope weakly (that scope holds the macro: a strong reference would
  // be a cycle); the interpreter keeps such scopes alive until rendering ends.
  Value make_macro(const Node& n, const ScopePtr& scope) {
    const Node* node = &n;
    macro_scopes_.push_back(scope);
    std::weak_ptr<Scope> weak_scope = scope;
    return Value::function(n.name, [this, node, weak_scope](CallArgs& args) {
      const ScopePtr defining_scope = weak_scope.lock();
      if (!defining_scope) render_error(at_line(node->line) + "macro '" + node->name + "' called after rendering ended");
      if (args.positional.size() > node->params.size()) {
        render_error(at_line(node->line) + "macro '" + node->name + "' takes " + std::to_string(node->params.size()) +
                     " arguments, " + std::to_string(args.positional.size()) + " given");
      }
      if (depth_ >= kMaxCallDepth) render_error(at_line(node->line) + "macro calls nested too deeply");
      auto call_scope = std::make_shared<Scope>();
      call_scope->parent = defining_scope;
      for (std::size_t i = 0; i < node->params.size(); ++i) {
        const auto& [param, fallback] = node->params[i];
        if (args.has(i, param)) {
          call_scope->vars[param] = args.get(i, param);
        } else if (fallback) {
          call_scope->vars[param] = eval(*fallback, call_scope);
        } else {
          call_scope->vars[param] = Value::undefined("'" + param + "' is undefined");
        }
      }
      for (const auto& [key, v] : args.keyword) {
        bool known = false;
        for (const auto& p : node->params) known = known || p.first == key;
        if (!known) render_error(at_line(node->line) + "macro '" + node->name + "' has no parameter '" + key + "'");
      }
      std::string captured;
      ++depth_;
      try {
        exec(node->body, call_scope, captured);
      } catch (...) {
        --depth_;
        throw;
      }
      --depth_;
      return Value(std::move(captured));
    });
  }

  CallArgs eval_args(const Expr& e, std::size_t first, const ScopePtr& scope) {
    CallArgs args;
    for (std::size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i], scope));
    for (const auto& [key, expr] : e.kwargs) args.keyword.emplace_back(key, eval(*expr, scope));
    return args;
  }

  Value eval(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.value;
      case Expr::Kind::Name: {
        const Value* v = scope->lookup(e.name);
        return v ? *v : Value::undefined("'" + e.name + "' is undefined");
      }
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        ValueList items;
        for (const ExprPtr& c : e.children) items.push_back(eval(*c, scope));
        return e.kind == Expr::Kind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case Expr::Kind::Dict: {
        ValueDict d;
        for (std::size_t i = 0; i + 1 < e.children.size(); i += 2) {
          const Value key = eval(*e.children[i], scope);
          if (!key.is_string()) render_error(at_line(e.line) + "dict keys must be strings, found " + key.type_name());
          d.set(key.as_string(), eval(*e.children[i + 1], scope));
        }
        return Value::dict(std::move(d));
      }
      case Expr::Kind::Attr: return with_line(e, [&] { return get_attribute(eval(*e.children[0], scope), e.name); });
      case Expr::Kind::Item:
        return with_line(e, [&] { return get_item(eval(*e.children[0], scope), eval(*e.children[1], scope)); });
      case Expr::Kind::Slice: {
        auto part = [&](std::size_t i) { return e.children[i] ? eval(*e.children[i], scope) : Value::none(); };
        return with_line(e, [&] { return get_slice(eval(*e.children[0], scope), part(1), part(2), part(3)); });
      }
      case Expr::Kind::Call: {
        const Value callee = eval(*e.children[0], scope);
        CallArgs args = eval_args(e, 1, scope);
        if (!callee.is_function()) {
          render_error(at_line(e.line) + (callee.is_undefined() ? callee.undefined_hint() + " (called as a function)"
                                                                : "'" + callee.type_name() + "' object is not callable"));
        }
        args.callee = callee.as_function().name;
        return with_line(e, [&] { return callee.as_function().call(args); });
      }
      case Expr::Kind::Filter: {
        const Value input = eval(*e.children[0], scope);
        CallArgs args = eval_args(e, 1, scope);
        return with_line(e, [&] { return apply_filter(e.name, input, args); });
      }
      case Expr::Kind::Test: {
        const Value input = eval(*e.children[0], scope);
        CallArgs args = eval_args(e, 1, scope);
        return with_line(e, [&] { return Value(apply_test(e.name, input, args) != e.negated); });
      }
      case Expr::Kind::Unary: {
        const Value v = eval(*e.children[0], scope);
        if (e.name == "not") return Value(!v.truthy());
        if (!v.is_number()) render_error(at_line(e.line) + "bad operand type for unary " + e.name + ": '" + v.type_name() + "'");
        if (e.name == "+") return v.is_float() ? v : Value(v.as_int());
        return v.is_float() ? Value(-v.as_number()) : Value(-v.as_int());
      }
      case Expr::Kind::Binary: return eval_binary(e, scope);
      case Expr::Kind::Compare: {
        Value left = eval(*e.children[0], scope);
        for (std::size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.children[i + 1], scope);
          if (!with_line(e, [&] { return Value(compare(e.ops[i], left, right)); }).truthy()) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
      case Expr::Kind::Condition: {
        if (eval(*e.children[0], scope).truthy()) return eval(*e.children[1], scope);
        if (e.children[2]) return eval(*e.children[2], scope);
        return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
      }
    }
    return Value();
  }

  // Render-time errors from builtins get the template line prepended.
  template <class F>
  Value with_line(const Expr& e, F&& f) {
    try {
      return f();
    } catch (const Error& err) {
      const std::string what = err.what();
      const std::string prefix = "invalid argument: chat template: ";
      if (what.rfind(prefix, 0) == 0 && what.find("line ", prefix.size()) != prefix.size()) {
        throw Error(err.kind(), "chat template: " + at_line(e.line) + what.substr(prefix.size()));
      }
      throw;
    }
  }

  static bool compare(const std::string& op, const Value& a, const Value& b) {
    if (op == "==") return values_equal(a, b);
    if (op == "!=") return !values_equal(a, b);
    if (op == "<") return value_less(a, b);
    if (op == ">") return value_less(b, a);
    if (op == "<=") return !value_less(b, a);
    if (op == ">=") return !value_less(a, b);
    if (op == "in") return contains(b, a);
    return !contains(b, a);  // "not in"
  }

  Value eval_binary(const Expr& e, const ScopePtr& scope) {
    const std::string& op = e.name;
    if (op == "and") {
      Value a = eval(*e.children[0], scope);
      return a.truthy() ? eval(*e.children[1], scope) : a;
    }
    if (op == "or") {
      Value a = eval(*e.children[0], scope);
      return a.truthy() ? a : eval(*e.children[1], scope);
    }
    const Value a = eval(*e.children[0], scope);
    const Value b = eval(*e.children[1], scope);
    if (op == "~") return Value(to_str(a) + to_str(b));
    auto type_error = [&]() -> Value {
      render_error(at_line(e.line) + "unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" +
                   b.type_name() + "'" + (a.is_undefined() ? " (" + a.undefined_hint() + ")" : "") +
                   (b.is_undefined() ? " (" + b.undefined_hint() + ")" : ""));
    };
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
      if (a.is_list() && b.is_list()) {
        ValueList items = a.as_list();
        items.insert(items.end(), b.as_list().begin(), b.as_list().end());
        return Value::list(std::move(items));
      }
    }
    if (op == "*" && ((a.is_string() && (b.is_int() || b.is_bool())) || (b.is_string() && (a.is_int() || a.is_bool())))) {
      const std::string& s = a.is_string() ? a.as_string() : b.as_string();
      const int64_t n = a.is_string() ? b.as_int() : a.as_int();
      if (n > 0 && s.size() * static_cast<std::size_t>(n) > (std::size_t{1} << 28)) render_error(at_line(e.line) + "string repetition too large");
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += s;
      return Value(out);
    }
    if (!a.is_number() || !b.is_number()) return type_error();
    const bool floating = a.is_float() || b.is_float();
    if (op == "/") {
      if (b.as_number() == 0.0) render_error(at_line(e.line) + "division by zero");
      return Value(a.as_number() / b.as_number());
    }
    if (floating) {
      const double x = a.as_number(), y = b.as_number();
      if (op == "+") return Value(x + y);
      if (op == "-") return Value(x - y);
      if (op == "*") return Value(x * y);
      if (op == "**") return Value(std::pow(x, y));
      if (y == 0.0) render_error(at_line(e.line) + "float division by zero");
      if (op == "//") return Value(std::floor(x / y));
      const double m = std::fmod(x, y);
      return Value((m != 0.0 && ((m < 0) != (y < 0))) ? m + y : m);  // Python's modulo takes the divisor's sign
    }
    const int64_t x = a.as_int(), y = b.as_int();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "**") {
      if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
      int64_t r = 1;
      for (int64_t i = 0; i < y && i < 64; ++i) r *= x;
      return Value(r);
    }
    if (y == 0) render_error(at_line(e.line) + "integer division or modulo by zero");
    int64_t q = x / y, m = x % y;
    if (m != 0 && ((m < 0) != (y < 0))) {
      q -= 1;
      m += y;
    }
    return op == "//" ? Value(q) : Value(m);
  }

  int depth_ = 0;
  std::vector<ScopePtr> macro_scopes_;
};

void check_expr(const Expr& e) {
  if (e.kind == Expr::Kind::Filter && !has_filter(e.name)) {
    fail(ErrorKind::Config, "chat template: line " + std::to_string(e.line) + ": no filter named '" + e.name + "'");
  }
  if (e.kind == Expr::Kind::Test && !has_test(e.name)) {
    fail(ErrorKind::Config, "chat template: line " + std::to_string(e.line) + ": no test named '" + e.name + "'");
  }
  for (const ExprPtr& c : e.children) {
    if (c) check_expr(*c);
  }
  for (const auto& kv : e.kwargs) check_expr(*kv.second);
}

}  // namespace

void check_filters_and_tests(const Body& body) {
  for (const NodePtr& n : body) {
    for (const ExprPtr* e : {&n->expr, &n->condition}) {
      if (*e) check_expr(**e);
    }
    for (const auto& [cond, branch] : n->branches) {
      if (cond) check_expr(*cond);
      check_filters_and_tests(branch);
    }
    for (const auto& p : n->params) {
      if (p.second) check_expr(*p.second);
    }
    check_filters_and_tests(n->body);
    check_filters_and_tests(n->else_body);
  }
}

std::string render(const Body& body, const ValueDict& globals) {
  auto root = std::make_shared<Scope>();
  for (const auto& [k, v] : globals.entries) root->vars[k] = v;
  std::string out;
  Interpreter interpreter;
  interpreter.exec(body, root, out);
  return out;
}

}  // namespace glmq::jinja
