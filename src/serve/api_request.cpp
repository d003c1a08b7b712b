#include "serve/api_request.h"

#include <cmath>
#include <limits>

#include "serve/api_error.h"
#include "serve/json_text.h"

namespace glmq::serve {

using OJson = nlohmann::ordered_json;

namespace {

std::string type_name(const OJson& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  return std::string(v.is_array() || v.is_object() ? "an " : "a ") + v.type_name();
}

std::string shown(const OJson& v) {
  std::string s = json_text(v);
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

[[noreturn]] void wrong_type(const std::string& field, const std::string& expected, const OJson& found) {
  invalid_request(field, "expected " + expected + ", found " + type_name(found) + " (" + shown(found) + ")");
}

const OJson* field(const OJson& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> number(const OJson& obj, const char* key, double lo, double hi) {
  const OJson* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_number()) wrong_type(key, "a number", *v);
  const double d = v->get<double>();
  if (!(d >= lo && d <= hi))
    invalid_request(key, "must be between " + json_text(OJson(lo)) + " and " + json_text(OJson(hi)) + ", found " + shown(*v));
  return d;
}

std::optional<std::int64_t> integer(const OJson& obj, const char* key, std::int64_t lo, std::int64_t hi) {
  const OJson* v = field(obj, key);
  if (!v) return std::nullopt;
  if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() && std::fabs(v->get<double>()) < 9e15) {
    // 100.0 is an integer to JSON-minded clients.
  } else if (!v->is_number_integer()) {
    wrong_type(key, "an integer", *v);
  }
  const double d = v->get<double>();
  if (d < static_cast<double>(lo) || d > static_cast<double>(hi))
    invalid_request(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) + ", found " + shown(*v));
  return v->is_number_unsigned() ? static_cast<std::int64_t>(v->get<std::uint64_t>()) : v->get<std::int64_t>();
}

std::optional<bool> boolean(const OJson& obj, const char* key) {
  const OJson* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) wrong_type(key, "true or false", *v);
  return v->get<bool>();
}

std::optional<std::string> string(const OJson& obj, const char* key) {
  const OJson* v = field(obj, key);
  if (!v) return std::nullopt;
  if (!v->is_string()) wrong_type(key, "a string", *v);
  return v->get<std::string>();
}

void reject_if_present(const OJson& obj, const char* key, const std::string& why) {
  if (field(obj, key)) invalid_request(key, why);
}

GenerationOptions parse_options(const OJson& body, bool chat) {
  GenerationOptions o;
  if (auto t = number(body, "temperature", 0.0, 2.0)) o.sampling.temperature = static_cast<float>(*t);
  if (auto p = number(body, "top_p", 0.0, 1.0)) {
    if (*p == 0.0) invalid_request("top_p", "must be greater than 0");
    o.sampling.top_p = static_cast<float>(*p);
  }
  if (auto k = integer(body, "top_k", -1, std::numeric_limits<std::int32_t>::max()))
    o.sampling.top_k = static_cast<std::int32_t>(std::max<std::int64_t>(*k, 0));  // -1: off, as in vLLM
  if (auto m = number(body, "min_p", 0.0, 1.0)) o.sampling.min_p = static_cast<float>(*m);
  if (auto p = number(body, "presence_penalty", -2.0, 2.0)) o.sampling.presence_penalty = static_cast<float>(*p);
  if (auto f = number(body, "frequency_penalty", -2.0, 2.0)) o.sampling.frequency_penalty = static_cast<float>(*f);
  if (auto s = integer(body, "seed", std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max())) {
    o.sampling.seed = static_cast<std::uint64_t>(*s);
    o.seed_given = true;
  }
  const char* max_key = chat && field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  o.max_tokens = integer(body, max_key, 1, kMaxTokensLimit);
  if (const OJson* stop = field(body, "stop")) {
    if (stop->is_string()) {
      o.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (stop->size() > 16) invalid_request("stop", "at most 16 stop sequences, found " + std::to_string(stop->size()));
      for (const auto& s : *stop) {
        if (!s.is_string()) wrong_type("stop", "a string or an array of strings", *stop);
        o.stop.push_back(s.get<std::string>());
      }
    } else {
      wrong_type("stop", "a string or an array of strings", *stop);
    }
    for (const auto& s : o.stop)
      if (s.empty()) invalid_request("stop", "stop sequences must not be empty");
  }
  if (const OJson* bias = field(body, "logit_bias")) {
    if (!bias->is_object()) wrong_type("logit_bias", "an object of token id → bias", *bias);
    for (const auto& [key, value] : bias->items()) {
      std::size_t used = 0;
      long long id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
      }
      if (used != key.size() || id < 0 || id > std::numeric_limits<std::int32_t>::max())
        invalid_request("logit_bias", "keys must be token ids, found \"" + key + "\"");
      if (!value.is_number() || std::fabs(value.get<double>()) > 100.0)
        invalid_request("logit_bias", "biases must be numbers in [-100, 100], found " + shown(value));
      o.logit_bias.emplace_back(static_cast<std::int32_t>(id), value.get<float>());
    }
  }
  o.ignore_eos = boolean(body, "ignore_eos").value_or(false);
  o.stream = boolean(body, "stream").value_or(false);
  if (const OJson* so = field(body, "stream_options")) {
    if (!so->is_object()) wrong_type("stream_options", "an object", *so);
    o.include_usage = boolean(*so, "include_usage").value_or(false);
  }
  if (auto n = integer(body, "n", 1, 128); n && *n != 1) invalid_request("n", "only n = 1 is supported, found " + std::to_string(*n));
  if (auto b = integer(body, "best_of", 1, 128); b && *b != 1) invalid_request("best_of", "only best_of = 1 is supported");
  if (chat) {
    o.logprobs = boolean(body, "logprobs").value_or(false);
    if (auto k = integer(body, "top_logprobs", 0, 20)) {
      if (!o.logprobs && *k > 0) invalid_request("top_logprobs", "needs logprobs: true");
      o.top_logprobs = static_cast<int>(*k);
    }
  } else if (const OJson* lp = field(body, "logprobs")) {
    // Completions: logprobs is the number of alternatives per token.
    if (lp->is_boolean()) {
      o.logprobs = lp->get<bool>();
    } else {
      auto k = integer(body, "logprobs", 0, 20);
      o.logprobs = true;
      o.top_logprobs = static_cast<int>(*k);
    }
  }
  if (const OJson* rf = field(body, "response_format")) {
    if (!rf->is_object() || !(*rf)["type"].is_string()) wrong_type("response_format", "an object with a \"type\"", *rf);
    const auto type = (*rf)["type"].get<std::string>();
    if (type == "json_object") o.json_object = true;
    else if (type != "text")
      invalid_request("response_format", "type \"" + type + "\" is not supported by this server (\"text\" or \"json_object\")");
  }
  return o;
}

// Message content as the template's visible text: a string, or the text parts of an array.
OJson content_text(const OJson& content, const std::string& where) {
  if (content.is_null() || content.is_string()) return content;
  if (!content.is_array()) wrong_type(where, "a string or an array of content parts", content);
  std::string text;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const OJson& part = content[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    if (part.is_string()) {
      text += part.get<std::string>();
      continue;
    }
    if (!part.is_object()) wrong_type(at, "a content part object", part);
    const auto type = string(part, "type");
    if (type != "text") invalid_request(at + ".type", "only text content parts are supported, found \"" + type.value_or("") + "\"");
    const OJson* t = field(part, "text");
    if (!t || !t->is_string()) invalid_request(at + ".text", "a text part needs a string \"text\"");
    text += t->get<std::string>();
  }
  return text;
}

OJson normalized_tool_calls(const OJson& calls, const std::string& where) {
  if (!calls.is_array()) wrong_type(where, "an array", calls);
  OJson out = OJson::array();
  for (std::size_t j = 0; j < calls.size(); ++j) {
    const std::string at = where + "[" + std::to_string(j) + "]";
    const OJson& call = calls[j];
    if (!call.is_object() || !field(call, "function") || !call["function"].is_object())
      invalid_request(at, "a tool call needs a \"function\" object");
    OJson fn = call["function"];
    if (!fn.contains("name") || !fn["name"].is_string()) invalid_request(at + ".function.name", "a string is required");
    OJson args = fn.value("arguments", OJson::object());
    if (args.is_string()) {
      const auto text = args.get<std::string>();
      args = OJson::parse(text, nullptr, false);
      if (args.is_discarded()) invalid_request(at + ".function.arguments", "not valid JSON: " + shown(OJson(text)));
    }
    if (!args.is_object()) invalid_request(at + ".function.arguments", "must be a JSON object, found " + shown(args));
    fn["arguments"] = args;
    OJson c = call;
    c["function"] = fn;
    out.push_back(c);
  }
  return out;
}

OJson normalized_messages(const OJson& body) {
  const OJson* messages = field(body, "messages");
  if (!messages) invalid_request("messages", "is required");
  if (!messages->is_array()) wrong_type("messages", "an array of messages", *messages);
  if (messages->empty()) invalid_request("messages", "must hold at least one message");
  OJson out = OJson::array();
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const std::string at = "messages[" + std::to_string(i) + "]";
    const OJson& m = (*messages)[i];
    if (!m.is_object()) wrong_type(at, "a message object", m);
    const OJson* role_v = field(m, "role");
    if (!role_v || !role_v->is_string()) invalid_request(at + ".role", "a string role is required");
    std::string role = role_v->get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      invalid_request(at + ".role", "expected system, developer, user, assistant or tool, found \"" + role + "\"");
    OJson n = m;
    n["role"] = role;
    const OJson* content = field(m, "content");
    const bool has_calls = field(m, "tool_calls") != nullptr;
    if (!content && !(role == "assistant" && has_calls))
      invalid_request(at + ".content", "is required for a " + role + " message");
    n["content"] = content ? content_text(*content, at + ".content") : OJson("");
    if (has_calls) {
      if (role != "assistant") invalid_request(at + ".tool_calls", "only assistant messages carry tool calls");
      n["tool_calls"] = normalized_tool_calls(m["tool_calls"], at + ".tool_calls");
    }
    if (const OJson* r = field(m, "reasoning_content"); r && !r->is_string())
      wrong_type(at + ".reasoning_content", "a string", *r);
    out.push_back(std::move(n));
  }
  return out;
}

OJson checked_tools(const OJson& tools) {
  if (!tools.is_array()) wrong_type("tools", "an array of tools", tools);
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const std::string at = "tools[" + std::to_string(i) + "]";
    const OJson& t = tools[i];
    if (!t.is_object()) wrong_type(at, "a tool object", t);
    if (t.value("type", std::string("function")) != "function") invalid_request(at + ".type", "only \"function\" tools are supported");
    const OJson* fn = field(t, "function");
    if (!fn || !fn->is_object()) invalid_request(at + ".function", "an object is required");
    const OJson* name = field(*fn, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty())
      invalid_request(at + ".function.name", "a non-empty string is required");
    if (const OJson* p = field(*fn, "parameters"); p && !p->is_object()) wrong_type(at + ".function.parameters", "a JSON schema object", *p);
  }
  return tools;
}

void parse_tool_choice(const OJson& body, ChatCompletionRequest& r) {
  const bool have_tools = !r.chat.tools.is_null() && !r.chat.tools.empty();
  r.tool_choice = have_tools ? ToolChoice::Auto : ToolChoice::None;
  const OJson* tc = field(body, "tool_choice");
  if (!tc) return;
  if (tc->is_string()) {
    const auto s = tc->get<std::string>();
    if (s == "none") r.tool_choice = ToolChoice::None;
    else if (s == "auto") r.tool_choice = have_tools ? ToolChoice::Auto : ToolChoice::None;
    else if (s == "required") r.tool_choice = ToolChoice::Required;
    else invalid_request("tool_choice", "expected \"none\", \"auto\", \"required\" or a function, found \"" + s + "\"");
  } else if (tc->is_object()) {
    const OJson* fn = field(*tc, "function");
    if (!fn || !fn->is_object() || !field(*fn, "name") || !(*fn)["name"].is_string())
      invalid_request("tool_choice", "expected {\"type\": \"function\", \"function\": {\"name\": ...}}");
    r.tool_choice = ToolChoice::Function;
    r.tool_choice_name = (*fn)["name"].get<std::string>();
  } else {
    wrong_type("tool_choice", "a string or an object", *tc);
  }
  if (r.tool_choice == ToolChoice::Required || r.tool_choice == ToolChoice::Function) {
    if (!have_tools) invalid_request("tool_choice", "needs tools");
    if (r.tool_choice == ToolChoice::Function) {
      bool known = false;
      for (const auto& t : r.chat.tools) known = known || t["function"]["name"] == r.tool_choice_name;
      if (!known) invalid_request("tool_choice", "no tool named \"" + r.tool_choice_name + "\"");
    }
  }
}

}  // namespace

OJson parse_json_object(std::string_view body) {
  OJson j;
  try {
    j = OJson::parse(body.begin(), body.end());
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    invalid_request("", std::string("the body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) invalid_request("", "the body must be a JSON object, found " + std::string(j.type_name()));
  return j;
}

ChatCompletionRequest parse_chat_completion_request(std::string_view text) {
  const OJson body = parse_json_object(text);
  ChatCompletionRequest r;
  r.model = string(body, "model").value_or("");
  r.options = parse_options(body, true);
  reject_if_present(body, "functions", "the deprecated \"functions\" field is not supported; use \"tools\"");
  r.chat.messages = normalized_messages(body);
  if (const OJson* tools = field(body, "tools"); tools && !tools->empty()) r.chat.tools = checked_tools(*tools);
  parse_tool_choice(body, r);
  if (r.tool_choice == ToolChoice::None) r.chat.tools = nullptr;  // the template then offers none
  r.chat.add_generation_prompt = true;
  if (const OJson* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) wrong_type("chat_template_kwargs", "an object", *kw);
    for (const auto& [k, v] : kw->items()) r.chat.extra[k] = v;
  }
  if (auto think = boolean(body, "enable_thinking")) r.chat.extra["enable_thinking"] = *think;
  if (auto effort = string(body, "reasoning_effort")) r.chat.extra["reasoning_effort"] = *effort;
  if (r.chat.extra.contains("enable_thinking")) {
    const auto& t = r.chat.extra["enable_thinking"];
    if (!t.is_boolean()) wrong_type("chat_template_kwargs.enable_thinking", "true or false", t);
    r.thinking_disabled = !t.get<bool>();
  }
  return r;
}

CompletionRequest parse_completion_request(std::string_view text) {
  const OJson body = parse_json_object(text);
  CompletionRequest r;
  r.model = string(body, "model").value_or("");
  r.options = parse_options(body, false);
  if (boolean(body, "echo").value_or(false)) invalid_request("echo", "echo is not supported by this server");
  reject_if_present(body, "suffix", "suffix (insertion) is not supported by this server");
  const OJson* prompt = field(body, "prompt");
  if (!prompt) invalid_request("prompt", "is required");
  const OJson* p = prompt;
  // A batch of one prompt is the prompt.
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    r.prompt_text = p->get<std::string>();
    if (r.prompt_text->empty()) invalid_request("prompt", "must not be empty");
  } else if (p->is_array() && !p->empty()) {
    for (const auto& id : *p) {
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > std::numeric_limits<std::int32_t>::max())
        invalid_request("prompt", "expected a string or an array of token ids; batches of several prompts are not supported");
      r.prompt_tokens.push_back(id.get<std::int32_t>());
    }
  } else {
    wrong_type("prompt", "a non-empty string or an array of token ids", *prompt);
  }
  return r;
}

}  // namespace glmq::serve
