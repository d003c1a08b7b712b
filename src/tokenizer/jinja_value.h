#pragma once
// Values of the chat-template language. They follow Python's semantics as jinja2 sees them
// (truthiness, equality, str()/repr()), because templates are written against jinja2.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

namespace glmq::jinja {

// Template inputs keep JSON key order: templates print tool schemas in insertion order.
using OrderedJson = nlohmann::ordered_json;

class Value;
struct CallArgs;

using ValueList = std::vector<Value>;

// Insertion-ordered mapping with string keys (Python dicts keep insertion order; templates
// print tool schemas in that order).
struct ValueDict {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value value);
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&)> call;
};

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };

  Value() = default;  // undefined
  static Value undefined(std::string hint);
  static Value none();
  Value(bool b);
  Value(int64_t i);
  Value(int i) : Value(static_cast<int64_t>(i)) {}
  Value(double d);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  static Value list(ValueList items = {});
  static Value tuple(ValueList items);
  static Value dict(ValueDict d = {});
  static Value namespace_object(ValueDict d = {});
  static Value function(std::string name, std::function<Value(CallArgs&)> fn);
  static Value from_json(const OrderedJson& j);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && tuple_; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_function() const { return kind_ == Kind::Function; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const;  // Int or Bool
  double as_number() const;
  const std::string& as_string() const { return std::get<std::string>(data_); }
  const ValueList& as_list() const { return *std::get<std::shared_ptr<ValueList>>(data_); }
  const ValueDict& as_dict() const { return *std::get<std::shared_ptr<ValueDict>>(data_); }
  ValueDict& mutable_dict() const { return *std::get<std::shared_ptr<ValueDict>>(data_); }
  const Function& as_function() const { return *std::get<std::shared_ptr<Function>>(data_); }
  // What the template called this undefined value, for error messages ("'x' is undefined").
  const std::string& undefined_hint() const { return hint_; }

  bool truthy() const;
  std::string type_name() const;  // Python's type name, for error messages

 private:
  Kind kind_ = Kind::Undefined;
  bool tuple_ = false;
  std::string hint_;
  std::variant<std::monostate, bool, int64_t, double, std::string, std::shared_ptr<ValueList>,
               std::shared_ptr<ValueDict>, std::shared_ptr<Function>>
      data_;
};

// Arguments of a call: positional then keyword, evaluated.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
  std::string callee;  // for error messages

  // The i-th positional argument or the keyword `name`, or `fallback` when absent.
  Value get(std::size_t index, const std::string& name, Value fallback = Value()) const;
  bool has(std::size_t index, const std::string& name) const;
  // Fails unless at most `max_positional` positional and only the listed keywords were given.
  void expect(std::size_t max_positional, std::initializer_list<const char*> keywords) const;
};

bool values_equal(const Value& a, const Value& b);
// Python's a < b; fails for unorderable types.
bool value_less(const Value& a, const Value& b);

// Python str() and repr().
std::string to_str(const Value& v);
std::string to_repr(const Value& v);
std::string python_float_repr(double d);
std::string python_string_repr(const std::string& s);

// json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' tojson calls it.
struct JsonDumpOptions {
  bool ensure_ascii = false;
  int indent = -1;  // -1: no indent (one line)
  std::string item_separator;   // empty: Python's default for the indent setting
  std::string key_separator;
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonDumpOptions& options);

// A render-time error: "chat template: <message>".
[[noreturn]] void render_error(const std::string& message);

}  // namespace glmq::jinja
