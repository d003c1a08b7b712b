#pragma once
// jinja2's built-in filters and tests, attribute/item access, and the Python methods templates
// call on strings, dicts and lists, with jinja2's sandbox rules (no mutating methods).
#include <string>

#include "tokenizer/jinja_value.h"

namespace glmq::jinja {

Value apply_filter(const std::string& name, const Value& input, CallArgs& args);
bool apply_test(const std::string& name, const Value& input, CallArgs& args);
bool has_filter(const std::string& name);
bool has_test(const std::string& name);

// obj.name: methods first, then keys (jinja2's getattr order).
Value get_attribute(const Value& obj, const std::string& name);
// obj[key]: keys and indices first, then attributes (jinja2's getitem order).
Value get_item(const Value& obj, const Value& key);
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// Python's `needle in haystack`.
bool contains(const Value& haystack, const Value& needle);
// Items a for loop visits: list items, dict keys, string characters; undefined is empty.
ValueList iterate(const Value& v);
int64_t length_of(const Value& v);

}  // namespace glmq::jinja
