#include "tokenizer/chat_template.h"

#include <ctime>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "tokenizer/jinja_interpreter.h"
#include "tokenizer/jinja_parser.h"

namespace glmq {
namespace {

using jinja::CallArgs;
using jinja::Value;

constexpr int64_t kMaxRange = 100000;  // jinja2's sandbox refuses larger ranges

Value range_function(CallArgs& a) {
  a.expect(3, {});
  auto int_at = [&](std::size_t i) {
    const Value& v = a.positional[i];
    if (!v.is_int() && !v.is_bool()) jinja::render_error("range(): expected integers, found " + v.type_name());
    return v.as_int();
  };
  int64_t start = 0, stop = 0, step = 1;
  if (a.positional.size() == 1) {
    stop = int_at(0);
  } else if (a.positional.size() >= 2) {
    start = int_at(0);
    stop = int_at(1);
    if (a.positional.size() == 3) step = int_at(2);
  } else {
    jinja::render_error("range() expected at least 1 argument");
  }
  if (step == 0) jinja::render_error("range() arg 3 must not be zero");
  jinja::ValueList items;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (static_cast<int64_t>(items.size()) >= kMaxRange) jinja::render_error("range() is too large for the sandbox");
    items.emplace_back(i);
  }
  return Value::list(std::move(items));
}

Value mapping_from_args(CallArgs& a, bool as_namespace) {
  jinja::ValueDict d;
  for (const Value& p : a.positional) {
    if (!p.is_dict()) jinja::render_error(a.callee + "(): positional arguments must be mappings");
    for (const auto& [k, v] : p.as_dict().entries) d.set(k, v);
  }
  for (const auto& [k, v] : a.keyword) d.set(k, v);
  return as_namespace ? Value::namespace_object(std::move(d)) : Value::dict(std::move(d));
}

Value strftime_now(CallArgs& a) {
  a.expect(1, {});
  const Value fmt = a.get(0, "");
  if (!fmt.is_string()) jinja::render_error("strftime_now(): expected a format string");
  const std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char buf[512];
  const std::size_t n = std::strftime(buf, sizeof(buf), fmt.as_string().c_str(), &local);
  return Value(std::string(buf, n));
}

}  // namespace

OrderedJson read_ordered_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorKind::Io, path + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return OrderedJson::parse(ss.str());
  } catch (const OrderedJson::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    fail(ErrorKind::Format, path + ": invalid JSON: " + e.what());
  }
}

ChatTemplate::ChatTemplate(const std::string& source, const TokenizerConfig& config)
    : body_(jinja::parse_template(source)), config_(config) {
  jinja::check_filters_and_tests(body_);
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

ChatTemplate ChatTemplate::from_directory(const std::string& dir) {
  TokenizerConfig config = TokenizerConfig::from_directory(dir);
  if (!config.chat_template) fail(ErrorKind::Config, dir + "/tokenizer_config.json: no chat_template");
  return ChatTemplate(*config.chat_template, config);
}

std::string ChatTemplate::render(const ChatRequest& request) const {
  if (!request.messages.is_array()) {
    fail(ErrorKind::InvalidArgument, "chat template: messages must be a JSON array, found " + request.messages.dump());
  }
  if (!request.tools.is_null() && !request.tools.is_array()) {
    fail(ErrorKind::InvalidArgument, "chat template: tools must be a JSON array, found " + request.tools.dump());
  }
  if (!request.extra.is_object()) fail(ErrorKind::InvalidArgument, "chat template: extra variables must be an object");
  jinja::ValueDict globals;
  globals.set("range", Value::function("range", range_function));
  globals.set("namespace", Value::function("namespace", [](CallArgs& a) { return mapping_from_args(a, true); }));
  globals.set("dict", Value::function("dict", [](CallArgs& a) { return mapping_from_args(a, false); }));
  globals.set("raise_exception", Value::function("raise_exception", [](CallArgs& a) -> Value {
    jinja::render_error("raise_exception: " + jinja::to_str(a.get(0, "message")));
  }));
  globals.set("strftime_now", Value::function("strftime_now", strftime_now));
  // transformers passes the tokenizer's named special tokens (special_tokens_map) to the template.
  const std::pair<const char*, const std::optional<std::string>*> tokens[] = {
      {"bos_token", &config_.bos_token}, {"eos_token", &config_.eos_token},
      {"unk_token", &config_.unk_token}, {"pad_token", &config_.pad_token}};
  for (const auto& [name, value] : tokens) {
    if (*value) globals.set(name, Value(**value));
  }
  globals.set("messages", Value::from_json(request.messages));
  globals.set("tools", Value::from_json(request.tools));
  globals.set("documents", Value::none());
  globals.set("add_generation_prompt", Value(request.add_generation_prompt));
  for (const auto& [k, v] : request.extra.items()) globals.set(k, Value::from_json(v));
  return jinja::render(body_, globals);
}

}  // namespace glmq
