#include "serve/tool_call_parser.h"

#include <utility>

#include "serve/json_text.h"
#include "serve/tag_scan.h"

namespace glmq::serve {

namespace {
constexpr std::string_view kCallOpen = "<tool_call>", kCallClose = "</tool_call>", kKeyOpen = "<arg_key>",
                           kKeyClose = "</arg_key>", kValueOpen = "<arg_value>", kValueClose = "</arg_value>";
}

ToolParameterTypes tool_parameter_types(const nlohmann::ordered_json& tools) {
  ToolParameterTypes types;
  if (!tools.is_array()) return types;
  for (const auto& tool : tools) {
    const auto* fn = &tool;
    if (tool.is_object() && tool.contains("function")) fn = &tool["function"];
    if (!fn->is_object() || !fn->contains("name") || !(*fn)["name"].is_string()) continue;
    auto& params = types[(*fn)["name"].get<std::string>()];
    if (!fn->contains("parameters") || !(*fn)["parameters"].is_object()) continue;
    const auto& schema = (*fn)["parameters"];
    if (!schema.contains("properties") || !schema["properties"].is_object()) continue;
    for (const auto& [key, prop] : schema["properties"].items())
      if (prop.is_object() && prop.contains("type") && prop["type"].is_string()) params[key] = prop["type"].get<std::string>();
  }
  return types;
}

std::string typed_argument_json(std::string_view value, const std::string& schema_type) {
  if (schema_type != "string") {
    const std::string_view trimmed = trim_blank(value);
    auto parsed = nlohmann::json::parse(trimmed.begin(), trimmed.end(), nullptr, false);
    if (!parsed.is_discarded() && !trimmed.empty()) return json_text(parsed);
  }
  return json_text(nlohmann::json(std::string(value)));
}

ToolCallParser::ToolCallParser(ToolParameterTypes types) : types_(std::move(types)) {}

ContentDelta ToolCallParser::push(std::string_view text) {
  pending_.append(text);
  ContentDelta out;
  drain(out, false);
  return out;
}

ContentDelta ToolCallParser::finish() {
  ContentDelta out;
  drain(out, true);
  switch (state_) {
    case State::Text:
      break;
    case State::Name:
      emit_text(out, blank_before_call_ + std::string(kCallOpen) + name_ + pending_);
      break;
    default:
      close_call(out);
  }
  pending_.clear();
  held_blank_.clear();
  state_ = State::Text;
  return out;
}

// Trailing blanks are held until more text follows: blanks right before a call, between calls or at the
// end belong to no one and are dropped, whichever pieces the text arrived in.
void ToolCallParser::emit_text(ContentDelta& out, std::string_view text) {
  const auto end = text.find_last_not_of(" \n\t\r");
  if (end == std::string_view::npos) {
    held_blank_.append(text);
    return;
  }
  out.text += held_blank_;
  out.text.append(text.substr(0, end + 1));
  held_blank_.assign(text.substr(end + 1));
}

void ToolCallParser::close_call(ContentDelta& out) {
  out.tool_calls.push_back({calls_ - 1, {}, args_in_call_ == 0 ? "{}" : "}"});
  held_blank_.clear();
}

void ToolCallParser::drain(ContentDelta& out, bool final) {
  for (;;) {
    const std::string_view p = pending_;
    // Moves the text before `tag` into `into`; false when the tag has not arrived yet.
    auto until = [&](std::string_view tag, std::string& into) {
      const TagScan scan = scan_for_tag(p, tag);
      if (scan.tag_at == std::string_view::npos) {
        into.append(p.substr(0, scan.settled));
        pending_.erase(0, scan.settled);
        return false;
      }
      into.append(p.substr(0, scan.tag_at));
      pending_.erase(0, scan.tag_at + tag.size());
      return true;
    };
    switch (state_) {
      case State::Text: {
        const TagScan scan = scan_for_tag(p, kCallOpen);
        if (scan.tag_at != std::string_view::npos) {
          emit_text(out, p.substr(0, scan.tag_at));
          blank_before_call_ = std::exchange(held_blank_, {});
          pending_.erase(0, scan.tag_at + kCallOpen.size());
          name_.clear();
          state_ = State::Name;
          continue;
        }
        const std::size_t n = final ? p.size() : scan.settled;
        emit_text(out, p.substr(0, n));
        pending_.erase(0, n);
        return;
      }
      case State::Name: {
        // The name ends at the first argument or at the end of an argument-less call.
        const TagScan key = scan_for_tag(p, kKeyOpen), close = scan_for_tag(p, kCallClose);
        const bool key_first = key.tag_at != std::string_view::npos && (close.tag_at == std::string_view::npos || key.tag_at < close.tag_at);
        if (!key_first && close.tag_at == std::string_view::npos) {
          const std::size_t n = std::min(key.settled, close.settled);
          name_.append(p.substr(0, n));
          pending_.erase(0, n);
          return;
        }
        const std::size_t at = key_first ? key.tag_at : close.tag_at;
        name_.append(p.substr(0, at));
        pending_.erase(0, at + (key_first ? kKeyOpen.size() : kCallClose.size()));
        current_name_ = std::string(trim_blank(name_));
        out.tool_calls.push_back({calls_, current_name_, ""});
        ++calls_;
        args_in_call_ = 0;
        if (key_first) {
          key_.clear();
          state_ = State::Key;
        } else {
          close_call(out);
          state_ = State::Text;
        }
        continue;
      }
      case State::BeforeKey: {
        // Between pairs only tags matter; stray text there is dropped.
        const TagScan key = scan_for_tag(p, kKeyOpen), close = scan_for_tag(p, kCallClose);
        const bool key_first = key.tag_at != std::string_view::npos && (close.tag_at == std::string_view::npos || key.tag_at < close.tag_at);
        if (!key_first && close.tag_at == std::string_view::npos) {
          pending_.erase(0, std::min(key.settled, close.settled));
          return;
        }
        if (key_first) {
          pending_.erase(0, key.tag_at + kKeyOpen.size());
          key_.clear();
          state_ = State::Key;
        } else {
          pending_.erase(0, close.tag_at + kCallClose.size());
          close_call(out);
          state_ = State::Text;
        }
        continue;
      }
      case State::Key:
        if (!until(kKeyClose, key_)) return;
        state_ = State::BeforeValue;
        continue;
      case State::BeforeValue: {
        const TagScan scan = scan_for_tag(p, kValueOpen);
        if (scan.tag_at == std::string_view::npos) {
          pending_.erase(0, scan.settled);
          return;
        }
        pending_.erase(0, scan.tag_at + kValueOpen.size());
        value_.clear();
        state_ = State::Value;
        continue;
      }
      case State::Value: {
        if (!until(kValueClose, value_)) return;
        const std::string key(trim_blank(key_));
        std::string type;
        if (auto fn = types_.find(current_name_); fn != types_.end())
          if (auto t = fn->second.find(key); t != fn->second.end()) type = t->second;
        std::string fragment = args_in_call_ == 0 ? "{" : ", ";
        fragment += json_text(nlohmann::json(key)) + ": " + typed_argument_json(value_, type);
        out.tool_calls.push_back({calls_ - 1, {}, std::move(fragment)});
        ++args_in_call_;
        state_ = State::BeforeKey;
        continue;
      }
    }
  }
}

}  // namespace glmq::serve
