// Attribute and item access, and the Python methods of str, dict and list.
#include <algorithm>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_pystring.h"
#include "tokenizer/utf8.h"

namespace glmq::jinja {
namespace {

std::optional<std::string> optional_string(const Value& v, const std::string& what) {
  if (v.is_undefined() || v.is_none()) return std::nullopt;
  if (!v.is_string()) render_error(what + ": expected a string, found " + v.type_name());
  return v.as_string();
}

const std::string& string_arg(const Value& v, const std::string& what) {
  if (!v.is_string()) render_error(what + ": expected a string, found " + v.type_name());
  return v.as_string();
}

int64_t int_arg(const Value& v, int64_t fallback, const std::string& what) {
  if (v.is_undefined() || v.is_none()) return fallback;
  if (!v.is_int() && !v.is_bool()) render_error(what + ": expected an integer, found " + v.type_name());
  return v.as_int();
}

Value string_list(const std::vector<std::string>& parts) {
  ValueList items;
  for (const auto& p : parts) items.emplace_back(p);
  return Value::list(std::move(items));
}

// startswith/endswith accept a string or a tuple of strings.
bool affix_match(const std::string& s, const Value& affix, bool at_end, const std::string& what) {
  auto one = [&](const std::string& a) {
    if (a.size() > s.size()) return false;
    return at_end ? s.compare(s.size() - a.size(), a.size(), a) == 0 : s.compare(0, a.size(), a) == 0;
  };
  if (affix.is_list()) {
    return std::any_of(affix.as_list().begin(), affix.as_list().end(),
                       [&](const Value& v) { return one(string_arg(v, what)); });
  }
  return one(string_arg(affix, what));
}

Value bind_method(const Value& self, const std::string& name, Value (*method)(const Value&, CallArgs&)) {
  return Value::function(name, [self, method](CallArgs& args) { return method(self, args); });
}

Value string_method(const Value& self, const std::string& name) {
  using Method = Value (*)(const Value&, CallArgs&);
  static const std::vector<std::pair<std::string, Method>> kMethods = {
      {"startswith", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(affix_match(s.as_string(), a.get(0, ""), false, "startswith")); }},
      {"endswith", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(affix_match(s.as_string(), a.get(0, ""), true, "endswith")); }},
      {"strip", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(pystr::strip(s.as_string(), optional_string(a.get(0, ""), "strip"), true, true)); }},
      {"lstrip", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(pystr::strip(s.as_string(), optional_string(a.get(0, ""), "lstrip"), true, false)); }},
      {"rstrip", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(pystr::strip(s.as_string(), optional_string(a.get(0, ""), "rstrip"), false, true)); }},
      {"split", [](const Value& s, CallArgs& a) { a.expect(2, {"sep", "maxsplit"}); return string_list(pystr::split(s.as_string(), optional_string(a.get(0, "sep"), "split"), int_arg(a.get(1, "maxsplit"), -1, "split"))); }},
      {"rsplit", [](const Value& s, CallArgs& a) { a.expect(2, {"sep", "maxsplit"}); return string_list(pystr::rsplit(s.as_string(), optional_string(a.get(0, "sep"), "rsplit"), int_arg(a.get(1, "maxsplit"), -1, "rsplit"))); }},
      {"splitlines", [](const Value& s, CallArgs& a) { a.expect(1, {"keepends"}); return string_list(pystr::splitlines(s.as_string(), a.get(0, "keepends", false).truthy())); }},
      {"replace", [](const Value& s, CallArgs& a) { a.expect(3, {}); return Value(pystr::replace(s.as_string(), string_arg(a.get(0, ""), "replace"), string_arg(a.get(1, ""), "replace"), int_arg(a.get(2, ""), -1, "replace"))); }},
      {"upper", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::upper(s.as_string())); }},
      {"lower", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::lower(s.as_string())); }},
      {"title", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::title(s.as_string())); }},
      {"capitalize", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::capitalize(s.as_string())); }},
      {"find", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(pystr::find(s.as_string(), string_arg(a.get(0, ""), "find"), false)); }},
      {"rfind", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(pystr::find(s.as_string(), string_arg(a.get(0, ""), "rfind"), true)); }},
      {"count", [](const Value& s, CallArgs& a) { a.expect(1, {}); return Value(pystr::count(s.as_string(), string_arg(a.get(0, ""), "count"))); }},
      {"isdigit", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::all_chars(s.as_string(), pystr::is_digit)); }},
      {"isalpha", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::all_chars(s.as_string(), pystr::is_alpha)); }},
      {"isalnum", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::all_chars(s.as_string(), pystr::is_alnum)); }},
      {"isspace", [](const Value& s, CallArgs& a) { a.expect(0, {}); return Value(pystr::all_chars(s.as_string(), pystr::is_space)); }},
      {"join", [](const Value& s, CallArgs& a) {
         a.expect(1, {});
         std::string out;
         bool first = true;
         for (const Value& item : iterate(a.get(0, ""))) {
           if (!first) out += s.as_string();
           first = false;
           out += string_arg(item, "join");
         }
         return Value(out);
       }},
  };
  for (const auto& [n, m] : kMethods) {
    if (n == name) return bind_method(self, name, m);
  }
  return Value::undefined("'str object' has no attribute '" + name + "'");
}

Value dict_method(const Value& self, const std::string& name) {
  if (name == "items") {
    return bind_method(self, name, [](const Value& d, CallArgs& a) {
      a.expect(0, {});
      ValueList items;
      for (const auto& [k, v] : d.as_dict().entries) items.push_back(Value::tuple({Value(k), v}));
      return Value::list(std::move(items));
    });
  }
  if (name == "keys") {
    return bind_method(self, name, [](const Value& d, CallArgs& a) {
      a.expect(0, {});
      ValueList items;
      for (const auto& kv : d.as_dict().entries) items.emplace_back(kv.first);
      return Value::list(std::move(items));
    });
  }
  if (name == "values") {
    return bind_method(self, name, [](const Value& d, CallArgs& a) {
      a.expect(0, {});
      ValueList items;
      for (const auto& kv : d.as_dict().entries) items.push_back(kv.second);
      return Value::list(std::move(items));
    });
  }
  if (name == "get") {
    return bind_method(self, name, [](const Value& d, CallArgs& a) {
      a.expect(2, {});
      const Value key = a.get(0, "");
      if (!key.is_string()) return a.get(1, "", Value::none());
      const Value* v = d.as_dict().find(key.as_string());
      return v ? *v : a.get(1, "", Value::none());
    });
  }
  return Value();
}

bool is_mutating_method(const Value& obj, const std::string& name) {
  if (obj.is_dict()) {
    return name == "pop" || name == "popitem" || name == "setdefault" || name == "update" || name == "clear";
  }
  if (obj.is_list()) {
    return name == "append" || name == "extend" || name == "insert" || name == "pop" || name == "remove" ||
           name == "sort" || name == "reverse" || name == "clear";
  }
  return false;
}

int64_t normalize_index(int64_t index, int64_t length) { return index < 0 ? index + length : index; }

}  // namespace

Value get_attribute(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) {
    render_error(obj.undefined_hint().empty() ? "undefined value has no attribute '" + name + "'"
                                              : obj.undefined_hint() + " (accessing '" + name + "')");
  }
  if (is_mutating_method(obj, name)) {
    render_error("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe");
  }
  if (obj.is_string()) return string_method(obj, name);
  if (obj.is_dict()) {
    Value method = dict_method(obj, name);
    if (method.is_function()) return method;
    if (const Value* v = obj.as_dict().find(name)) return *v;
    return Value::undefined("'dict object' has no attribute '" + name + "'");
  }
  if (obj.is_namespace()) {
    if (const Value* v = obj.as_dict().find(name)) return *v;
    return Value::undefined("'Namespace object' has no attribute '" + name + "'");
  }
  if (obj.is_list() && (name == "index" || name == "count")) {
    const bool want_index = name == "index";
    return Value::function(name, [obj, want_index](CallArgs& a) {
      a.expect(1, {});
      const Value needle = a.get(0, "");
      const ValueList& items = obj.as_list();
      int64_t n = 0;
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (values_equal(items[i], needle)) {
          if (want_index) return Value(static_cast<int64_t>(i));
          ++n;
        }
      }
      if (want_index) render_error("list.index(x): x not in list");
      return Value(n);
    });
  }
  return Value::undefined("'" + obj.type_name() + " object' has no attribute '" + name + "'");
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) {
    render_error(obj.undefined_hint().empty() ? "undefined value is not subscriptable" : obj.undefined_hint());
  }
  if (obj.is_dict() || obj.is_namespace()) {
    if (key.is_string()) {
      if (const Value* v = obj.as_dict().find(key.as_string())) return *v;
      if (obj.is_dict()) {
        Value method = dict_method(obj, key.as_string());
        if (method.is_function()) return method;
      }
    }
    return Value::undefined("'dict object' has no attribute " + to_repr(key));
  }
  if ((obj.is_list() || obj.is_string()) && (key.is_int() || key.is_bool())) {
    if (obj.is_list()) {
      const ValueList& items = obj.as_list();
      const int64_t i = normalize_index(key.as_int(), static_cast<int64_t>(items.size()));
      if (i < 0 || i >= static_cast<int64_t>(items.size())) {
        return Value::undefined(obj.type_name() + " object has no element " + std::to_string(key.as_int()));
      }
      return items[static_cast<std::size_t>(i)];
    }
    const std::u32string u = pystr::to_u32(obj.as_string());
    const int64_t i = normalize_index(key.as_int(), static_cast<int64_t>(u.size()));
    if (i < 0 || i >= static_cast<int64_t>(u.size())) {
      return Value::undefined("str object has no element " + std::to_string(key.as_int()));
    }
    std::string out;
    utf8::append(out, u[static_cast<std::size_t>(i)]);
    return Value(out);
  }
  if (key.is_string()) return get_attribute(obj, key.as_string());
  return Value::undefined("'" + obj.type_name() + " object' has no attribute " + to_repr(key));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  auto bound = [](const Value& v) -> std::optional<int64_t> {
    if (v.is_undefined() || v.is_none()) return std::nullopt;
    if (!v.is_int() && !v.is_bool()) render_error("slice indices must be integers or None, found " + v.type_name());
    return v.as_int();
  };
  if (obj.is_list()) {
    const ValueList& items = obj.as_list();
    ValueList out;
    for (int64_t i : pystr::slice_indices(static_cast<int64_t>(items.size()), bound(start), bound(stop), bound(step))) {
      out.push_back(items[static_cast<std::size_t>(i)]);
    }
    return obj.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }
  if (obj.is_string()) {
    const std::u32string u = pystr::to_u32(obj.as_string());
    std::u32string out;
    for (int64_t i : pystr::slice_indices(static_cast<int64_t>(u.size()), bound(start), bound(stop), bound(step))) {
      out.push_back(u[static_cast<std::size_t>(i)]);
    }
    return Value(pystr::from_u32(out));
  }
  if (obj.is_undefined()) render_error(obj.undefined_hint().empty() ? "undefined value is not subscriptable" : obj.undefined_hint());
  render_error("'" + obj.type_name() + "' object is not subscriptable");
}

bool contains(const Value& haystack, const Value& needle) {
  if (haystack.is_string()) {
    if (!needle.is_string()) render_error("'in <string>' requires string as left operand, not " + needle.type_name());
    return haystack.as_string().find(needle.as_string()) != std::string::npos;
  }
  if (haystack.is_list()) {
    return std::any_of(haystack.as_list().begin(), haystack.as_list().end(),
                       [&](const Value& v) { return values_equal(v, needle); });
  }
  if (haystack.is_dict()) return needle.is_string() && haystack.as_dict().find(needle.as_string()) != nullptr;
  if (haystack.is_undefined()) return false;  // Undefined iterates as empty
  render_error("argument of type '" + haystack.type_name() + "' is not iterable");
}

ValueList iterate(const Value& v) {
  if (v.is_list()) return v.as_list();
  if (v.is_dict()) {
    ValueList keys;
    for (const auto& kv : v.as_dict().entries) keys.emplace_back(kv.first);
    return keys;
  }
  if (v.is_string()) {
    ValueList chars;
    for (char32_t c : pystr::to_u32(v.as_string())) {
      std::string s;
      utf8::append(s, c);
      chars.emplace_back(std::move(s));
    }
    return chars;
  }
  if (v.is_undefined()) return {};
  render_error("'" + v.type_name() + "' object is not iterable");
}

int64_t length_of(const Value& v) {
  if (v.is_string()) return static_cast<int64_t>(utf8::count_code_points(v.as_string()));
  if (v.is_list()) return static_cast<int64_t>(v.as_list().size());
  if (v.is_dict() || v.is_namespace()) return static_cast<int64_t>(v.as_dict().entries.size());
  if (v.is_undefined()) return 0;
  render_error("object of type '" + v.type_name() + "' has no len()");
}

}  // namespace glmq::jinja
