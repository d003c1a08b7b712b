// jinja2's built-in filters and tests (the ones chat templates use), with transformers' tojson.
#include <algorithm>
#include <cmath>
#include <map>

#include "tokenizer/jinja_builtins.h"
#include "tokenizer/jinja_pystring.h"

namespace glmq::jinja {
namespace {

using FilterFn = Value (*)(const Value&, CallArgs&);
using TestFn = bool (*)(const Value&, CallArgs&);

const std::string& need_string(const Value& v, const std::string& what) {
  if (!v.is_string()) render_error(what + ": expected a string, found " + v.type_name());
  return v.as_string();
}

// Filters that read an `attribute` argument accept dotted paths ("a.b") and list indices.
Value attribute_path(const Value& item, const Value& attribute) {
  if (attribute.is_int()) return get_item(item, attribute);
  Value v = item;
  for (const std::string& part : pystr::split(need_string(attribute, "attribute"), std::string("."), -1)) {
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = numeric ? get_item(v, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(v, Value(part));
  }
  return v;
}

// select/reject/selectattr/rejectattr: keep items whose test result equals `keep`.
Value filter_items(const Value& input, CallArgs& args, bool keep, bool by_attribute) {
  const std::size_t first_test_arg = by_attribute ? 1 : 0;
  Value attribute = by_attribute ? args.get(0, "") : Value();
  std::string test_name;
  CallArgs test_args;
  test_args.callee = "test";
  if (args.positional.size() > first_test_arg) {
    test_name = need_string(args.positional[first_test_arg], "select");
    test_args.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(first_test_arg + 1), args.positional.end());
  }
  ValueList out;
  for (const Value& item : iterate(input)) {
    const Value subject = by_attribute ? attribute_path(item, attribute) : item;
    const bool passed = test_name.empty() ? subject.truthy() : apply_test(test_name, subject, test_args);
    if (passed == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value sort_items(const Value& input, CallArgs& args) {
  args.expect(3, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = args.get(0, "reverse", false).truthy();
  const bool case_sensitive = args.get(1, "case_sensitive", false).truthy();
  const Value attribute = args.get(2, "attribute");
  ValueList items = iterate(input);
  auto key = [&](const Value& v) {
    Value k = attribute.is_undefined() || attribute.is_none() ? v : attribute_path(v, attribute);
    if (!case_sensitive && k.is_string()) k = Value(pystr::lower(k.as_string()));
    return k;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
    return reverse ? value_less(key(b), key(a)) : value_less(key(a), key(b));
  });
  return Value::list(std::move(items));
}

Value tojson_filter(const Value& input, CallArgs& args) {
  // transformers: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
  args.expect(4, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonDumpOptions o;
  o.ensure_ascii = args.get(0, "ensure_ascii", false).truthy();
  const Value indent = args.get(1, "indent");
  if (indent.is_int()) o.indent = static_cast<int>(std::max<int64_t>(0, indent.as_int()));
  else if (indent.is_string()) render_error("tojson: string indent is not supported");
  const Value separators = args.get(2, "separators");
  if (separators.is_list() && separators.as_list().size() == 2) {
    o.item_separator = need_string(separators.as_list()[0], "tojson separators");
    o.key_separator = need_string(separators.as_list()[1], "tojson separators");
    if (o.item_separator.empty()) o.item_separator = "\x01";  // an explicit empty separator is not the default
  }
  o.sort_keys = args.get(3, "sort_keys", false).truthy();
  std::string out = to_json(input, o);
  if (o.item_separator == "\x01") out.erase(std::remove(out.begin(), out.end(), '\x01'), out.end());
  return Value(out);
}

Value indent_filter(const Value& input, CallArgs& args) {
  args.expect(3, {"width", "first", "blank"});
  const Value width = args.get(0, "width", Value(int64_t{4}));
  const std::string pad = width.is_string() ? width.as_string() : std::string(static_cast<std::size_t>(std::max<int64_t>(0, width.as_int())), ' ');
  const bool first = args.get(1, "first", false).truthy();
  const bool blank = args.get(2, "blank", false).truthy();
  std::string s = to_str(input);
  std::string out;
  const std::vector<std::string> lines = pystr::splitlines(s + "\n", true);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const bool is_blank = pystr::strip(line, std::nullopt, true, true).empty();
    if ((i > 0 || first) && (blank || !is_blank)) out += pad;
    out += line;
  }
  out.pop_back();  // the "\n" added above
  return Value(out);
}

Value round_filter(const Value& input, CallArgs& args) {
  args.expect(2, {"precision", "method"});
  const int64_t precision = args.get(0, "precision", Value(int64_t{0})).as_int();
  const std::string method = args.get(1, "method", "common").is_string() ? args.get(1, "method", "common").as_string() : "common";
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = input.as_number() * scale;
  double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
  return Value(r / scale);
}

const std::map<std::string, FilterFn>& filters() {
  static const std::map<std::string, FilterFn> kFilters = {
      {"tojson", tojson_filter},
      {"trim", [](const Value& v, CallArgs& a) {
         a.expect(1, {"chars"});
         const Value chars = a.get(0, "chars");
         return Value(pystr::strip(to_str(v), chars.is_string() ? std::optional<std::string>(chars.as_string()) : std::nullopt, true, true));
       }},
      {"length", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value(length_of(v)); }},
      {"count", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value(length_of(v)); }},
      {"items", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         if (v.is_undefined()) return Value::list();
         if (!v.is_dict()) render_error("items filter: expected a mapping, found " + v.type_name());
         ValueList items;
         for (const auto& [k, e] : v.as_dict().entries) items.push_back(Value::tuple({Value(k), e}));
         return Value::list(std::move(items));
       }},
      {"join", [](const Value& v, CallArgs& a) {
         a.expect(2, {"d", "attribute"});
         const std::string sep = to_str(a.get(0, "d", ""));
         const Value attribute = a.get(1, "attribute");
         std::string out;
         bool first = true;
         for (const Value& item : iterate(v)) {
           if (!first) out += sep;
           first = false;
           out += to_str(attribute.is_undefined() ? item : attribute_path(item, attribute));
         }
         return Value(out);
       }},
      {"default", [](const Value& v, CallArgs& a) {
         a.expect(2, {"default_value", "boolean"});
         const bool boolean = a.get(1, "boolean", false).truthy();
         if (v.is_undefined() || (boolean && !v.truthy())) return a.get(0, "default_value", "");
         return v;
       }},
      {"upper", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value(pystr::upper(to_str(v))); }},
      {"lower", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value(pystr::lower(to_str(v))); }},
      {"capitalize", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value(pystr::capitalize(to_str(v))); }},
      {"title", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value(pystr::title(to_str(v))); }},
      {"string", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value(to_str(v)); }},
      {"safe", [](const Value& v, CallArgs& a) { a.expect(0, {}); return v; }},
      {"escape", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         std::string out;
         for (char c : to_str(v)) {
           switch (c) {
             case '&': out += "&amp;"; break;
             case '<': out += "&lt;"; break;
             case '>': out += "&gt;"; break;
             case '"': out += "&#34;"; break;
             case '\'': out += "&#39;"; break;
             default: out.push_back(c);
           }
         }
         return Value(out);
       }},
      {"first", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         const ValueList items = iterate(v);
         return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
       }},
      {"last", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         const ValueList items = iterate(v);
         return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
       }},
      {"list", [](const Value& v, CallArgs& a) { a.expect(0, {}); return Value::list(iterate(v)); }},
      {"reverse", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         if (v.is_string()) {
           std::u32string u = pystr::to_u32(v.as_string());
           std::reverse(u.begin(), u.end());
           return Value(pystr::from_u32(u));
         }
         ValueList items = iterate(v);
         std::reverse(items.begin(), items.end());
         return Value::list(std::move(items));
       }},
      {"sort", sort_items},
      {"unique", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         ValueList out;
         for (const Value& item : iterate(v)) {
           if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return values_equal(o, item); })) out.push_back(item);
         }
         return Value::list(std::move(out));
       }},
      {"replace", [](const Value& v, CallArgs& a) {
         a.expect(3, {"old", "new", "count"});
         const Value count = a.get(2, "count");
         return Value(pystr::replace(to_str(v), to_str(a.get(0, "old")), to_str(a.get(1, "new")),
                                     count.is_int() ? count.as_int() : -1));
       }},
      {"int", [](const Value& v, CallArgs& a) {
         a.expect(2, {"default", "base"});
         if (v.is_int() || v.is_bool()) return Value(v.as_int());
         if (v.is_float()) return Value(static_cast<int64_t>(v.as_number()));
         if (v.is_string()) {
           try {
             return Value(static_cast<int64_t>(std::stoll(pystr::strip(v.as_string(), std::nullopt, true, true))));
           } catch (const std::exception&) {
           }
         }
         return a.get(0, "default", Value(int64_t{0}));
       }},
      {"float", [](const Value& v, CallArgs& a) {
         a.expect(1, {"default"});
         if (v.is_number()) return Value(v.as_number());
         if (v.is_string()) {
           try {
             return Value(std::stod(v.as_string()));
           } catch (const std::exception&) {
           }
         }
         return a.get(0, "default", Value(0.0));
       }},
      {"abs", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         if (v.is_float()) return Value(std::fabs(v.as_number()));
         if (v.is_int() || v.is_bool()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
         render_error("bad operand type for abs(): '" + v.type_name() + "'");
       }},
      {"round", round_filter},
      {"indent", indent_filter},
      {"map", [](const Value& v, CallArgs& a) {
         ValueList out;
         const Value attribute = a.get(99, "attribute");
         if (!attribute.is_undefined()) {
           const Value fallback = a.get(99, "default");
           for (const Value& item : iterate(v)) {
             Value x = attribute_path(item, attribute);
             out.push_back(x.is_undefined() && !fallback.is_undefined() ? fallback : x);
           }
           return Value::list(std::move(out));
         }
         if (a.positional.empty()) render_error("map: expected a filter name or attribute=");
         const std::string name = need_string(a.positional[0], "map");
         CallArgs rest;
         rest.callee = name;
         rest.positional.assign(a.positional.begin() + 1, a.positional.end());
         rest.keyword = a.keyword;
         for (const Value& item : iterate(v)) out.push_back(apply_filter(name, item, rest));
         return Value::list(std::move(out));
       }},
      {"select", [](const Value& v, CallArgs& a) { return filter_items(v, a, true, false); }},
      {"reject", [](const Value& v, CallArgs& a) { return filter_items(v, a, false, false); }},
      {"selectattr", [](const Value& v, CallArgs& a) { return filter_items(v, a, true, true); }},
      {"rejectattr", [](const Value& v, CallArgs& a) { return filter_items(v, a, false, true); }},
      {"sum", [](const Value& v, CallArgs& a) {
         a.expect(2, {"attribute", "start"});
         const Value attribute = a.get(0, "attribute");
         Value total = a.get(1, "start", Value(int64_t{0}));
         for (const Value& item : iterate(v)) {
           const Value x = attribute.is_undefined() ? item : attribute_path(item, attribute);
           if (!x.is_number() || !total.is_number()) render_error("sum: expected numbers, found " + x.type_name());
           total = (x.is_float() || total.is_float()) ? Value(total.as_number() + x.as_number()) : Value(total.as_int() + x.as_int());
         }
         return total;
       }},
      {"min", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         const ValueList items = iterate(v);
         if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
         return *std::min_element(items.begin(), items.end(), value_less);
       }},
      {"max", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         const ValueList items = iterate(v);
         if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
         return *std::max_element(items.begin(), items.end(), value_less);
       }},
      {"wordcount", [](const Value& v, CallArgs& a) {
         a.expect(0, {});
         return Value(static_cast<int64_t>(pystr::split(to_str(v), std::nullopt, -1).size()));
       }},
      {"dictsort", [](const Value& v, CallArgs& a) {
         a.expect(3, {"case_sensitive", "by", "reverse"});
         if (!v.is_dict()) render_error("dictsort: expected a mapping, found " + v.type_name());
         const bool case_sensitive = a.get(0, "case_sensitive", false).truthy();
         const bool by_value = a.get(1, "by", "key").is_string() && a.get(1, "by", "key").as_string() == "value";
         const bool reverse = a.get(2, "reverse", false).truthy();
         ValueList items;
         for (const auto& [k, e] : v.as_dict().entries) items.push_back(Value::tuple({Value(k), e}));
         auto key = [&](const Value& pair) {
           Value k = pair.as_list()[by_value ? 1 : 0];
           if (!case_sensitive && k.is_string()) k = Value(pystr::lower(k.as_string()));
           return k;
         };
         std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
           return reverse ? value_less(key(y), key(x)) : value_less(key(x), key(y));
         });
         return Value::list(std::move(items));
       }},
  };
  return kFilters;
}

bool is_integer(const Value& v) { return v.is_int(); }

const std::map<std::string, TestFn>& tests() {
  static const std::map<std::string, TestFn> kTests = {
      {"defined", [](const Value& v, CallArgs&) { return !v.is_undefined(); }},
      {"undefined", [](const Value& v, CallArgs&) { return v.is_undefined(); }},
      {"none", [](const Value& v, CallArgs&) { return v.is_none(); }},
      {"string", [](const Value& v, CallArgs&) { return v.is_string(); }},
      {"number", [](const Value& v, CallArgs&) { return v.is_number(); }},
      {"integer", [](const Value& v, CallArgs&) { return is_integer(v); }},
      {"float", [](const Value& v, CallArgs&) { return v.is_float(); }},
      {"boolean", [](const Value& v, CallArgs&) { return v.is_bool(); }},
      {"true", [](const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }},
      {"false", [](const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }},
      {"mapping", [](const Value& v, CallArgs&) { return v.is_dict(); }},
      {"iterable", [](const Value& v, CallArgs&) { return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined(); }},
      {"sequence", [](const Value& v, CallArgs&) { return v.is_list() || v.is_dict() || v.is_string() || v.is_undefined(); }},
      {"callable", [](const Value& v, CallArgs&) { return v.is_function(); }},
      {"odd", [](const Value& v, CallArgs&) { return v.is_number() && !v.is_float() && v.as_int() % 2 != 0; }},
      {"even", [](const Value& v, CallArgs&) { return v.is_number() && !v.is_float() && v.as_int() % 2 == 0; }},
      {"divisibleby", [](const Value& v, CallArgs& a) {
         const Value d = a.get(0, "num");
         if (!v.is_number() || !d.is_number() || d.as_int() == 0) render_error("divisibleby: expected non-zero integers");
         return v.as_int() % d.as_int() == 0;
       }},
      {"eq", [](const Value& v, CallArgs& a) { return values_equal(v, a.get(0, "other")); }},
      {"ne", [](const Value& v, CallArgs& a) { return !values_equal(v, a.get(0, "other")); }},
      {"lt", [](const Value& v, CallArgs& a) { return value_less(v, a.get(0, "other")); }},
      {"gt", [](const Value& v, CallArgs& a) { return value_less(a.get(0, "other"), v); }},
      {"le", [](const Value& v, CallArgs& a) { return !value_less(a.get(0, "other"), v); }},
      {"ge", [](const Value& v, CallArgs& a) { return !value_less(v, a.get(0, "other")); }},
      {"in", [](const Value& v, CallArgs& a) { return contains(a.get(0, "seq"), v); }},
      {"sameas", [](const Value& v, CallArgs& a) {
         const Value o = a.get(0, "other");
         if (v.kind() != o.kind()) return false;
         if (v.is_none() || v.is_undefined()) return true;
         if (v.is_bool()) return v.as_bool() == o.as_bool();
         if (v.is_list()) return &v.as_list() == &o.as_list();
         if (v.is_dict() || v.is_namespace()) return &v.as_dict() == &o.as_dict();
         return values_equal(v, o);
       }},
      {"lower", [](const Value& v, CallArgs&) { return v.is_string() && pystr::lower(v.as_string()) == v.as_string(); }},
      {"upper", [](const Value& v, CallArgs&) { return v.is_string() && pystr::upper(v.as_string()) == v.as_string(); }},
      {"filter", [](const Value& v, CallArgs&) { return v.is_string() && has_filter(v.as_string()); }},
      {"test", [](const Value& v, CallArgs&) { return v.is_string() && has_test(v.as_string()); }},
  };
  return kTests;
}

const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> kAliases = {
      {"d", "default"}, {"e", "escape"}, {"==", "eq"}, {"equalto", "eq"}, {"!=", "ne"}, {"<", "lt"},
      {"lessthan", "lt"}, {">", "gt"}, {"greaterthan", "gt"}, {"<=", "le"}, {">=", "ge"}};
  return kAliases;
}

const std::string& canonical(const std::string& name) {
  auto it = aliases().find(name);
  return it == aliases().end() ? name : it->second;
}

}  // namespace

bool has_filter(const std::string& name) { return filters().count(canonical(name)) != 0; }
bool has_test(const std::string& name) { return tests().count(canonical(name)) != 0; }

Value apply_filter(const std::string& name, const Value& input, CallArgs& args) {
  auto it = filters().find(canonical(name));
  if (it == filters().end()) render_error("no filter named '" + name + "'");
  args.callee = name;
  return it->second(input, args);
}

bool apply_test(const std::string& name, const Value& input, CallArgs& args) {
  auto it = tests().find(canonical(name));
  if (it == tests().end()) render_error("no test named '" + name + "'");
  args.callee = name;
  return it->second(input, args);
}

}  // namespace glmq::jinja
