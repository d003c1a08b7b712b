#pragma once
// Turns GLM's XML tool calls in the answer text into OpenAI tool calls, piece by piece:
//   <tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value>…</tool_call>
// becomes {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}. A call is announced (index, name) as
// soon as its name is complete, and its arguments follow one key/value pair at a time, so the argument
// fragments of a call concatenate to a JSON object. A value stays a string where the tool's schema says the
// parameter is a string; otherwise a value that parses as JSON keeps its type (42, true, [1,2]) and anything
// else is a string.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace glmq::serve {

struct ToolCallDelta {
  int index = 0;
  std::string name;       // set on the call's first delta only
  std::string arguments;  // a fragment of the JSON object
};

struct ContentDelta {
  std::string text;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return text.empty() && tool_calls.empty(); }
};

// Per function name, per parameter name: the JSON-schema "type" (from the request's tools).
using ToolParameterTypes = std::map<std::string, std::map<std::string, std::string>>;
ToolParameterTypes tool_parameter_types(const nlohmann::ordered_json& tools);

// The JSON text of one argument value, typed as described above.
std::string typed_argument_json(std::string_view value, const std::string& schema_type);

class ToolCallParser {
 public:
  explicit ToolCallParser(ToolParameterTypes types = {});
  ContentDelta push(std::string_view text);
  // A call cut off by the token limit is closed with the pairs it completed; a name that never finished
  // goes out as text.
  ContentDelta finish();
  int calls() const { return calls_; }

 private:
  enum class State { Text, Name, BeforeKey, Key, BeforeValue, Value };
  void drain(ContentDelta& out, bool final);
  void emit_text(ContentDelta& out, std::string_view text);
  void close_call(ContentDelta& out);

  ToolParameterTypes types_;
  State state_ = State::Text;
  std::string pending_;
  std::string held_blank_;         // trailing blanks of the text so far
  std::string blank_before_call_;  // given back if the call turns out to be unfinished text
  std::string name_, current_name_, key_, value_;
  int calls_ = 0;
  int args_in_call_ = 0;
};

}  // namespace glmq::serve
