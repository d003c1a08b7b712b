// Request validation: every malformed or unsupported request is a 400 naming the field; valid ones are read
// into the template's shape (text content, tool-call arguments as objects, developer → system).
#include <gtest/gtest.h>

#include "serve/api_error.h"
#include "serve/api_request.h"

namespace glmq::serve {
namespace {

// The field a rejected chat request names (empty when the whole body is wrong).
std::string rejected_field(const std::string& body) {
  try {
    parse_chat_completion_request(body);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status(), 400) << body;
    EXPECT_EQ(e.type(), "invalid_request_error");
    EXPECT_NE(std::string(e.what()), "") << body;
    const auto j = nlohmann::json::parse(e.body());
    EXPECT_TRUE(j["error"].contains("message") && j["error"].contains("type") && j["error"].contains("param") && j["error"].contains("code"));
    return e.param();
  }
  ADD_FAILURE() << "accepted: " << body;
  return "<accepted>";
}

const std::string kMsgs = R"("messages": [{"role": "user", "content": "hi"}])";

TEST(ChatRequestValidation, RejectsBadBodies) {
  EXPECT_EQ(rejected_field("{not json"), "");
  EXPECT_EQ(rejected_field(R"({"messages": [], "max_tokens": 1e999})"), "");  // beyond a double: still a 400
  EXPECT_EQ(rejected_field("[1, 2]"), "");
  EXPECT_EQ(rejected_field(""), "");
  EXPECT_EQ(rejected_field("{}"), "messages");
  EXPECT_EQ(rejected_field(R"({"messages": []})"), "messages");
  EXPECT_EQ(rejected_field(R"({"messages": "hi"})"), "messages");
  EXPECT_EQ(rejected_field(R"({"messages": [42]})"), "messages[0]");
  EXPECT_EQ(rejected_field(R"({"messages": [{"content": "hi"}]})"), "messages[0].role");
  EXPECT_EQ(rejected_field(R"({"messages": [{"role": "wizard", "content": "hi"}]})"), "messages[0].role");
  EXPECT_EQ(rejected_field(R"({"messages": [{"role": "user"}]})"), "messages[0].content");
  EXPECT_EQ(rejected_field(R"({"messages": [{"role": "user", "content": 5}]})"), "messages[0].content");
  EXPECT_EQ(rejected_field(R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})"),
            "messages[0].content[0].type");
  EXPECT_EQ(rejected_field(R"({"messages": [{"role": "user", "content": "a", "tool_calls": []}]})"), "messages[0].tool_calls");
  EXPECT_EQ(rejected_field(R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}]}]})"),
            "messages[0].tool_calls[0].function.arguments");
  EXPECT_EQ(rejected_field(R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"function": {"name": "f", "arguments": "[1]"}}]}]})"),
            "messages[0].tool_calls[0].function.arguments");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "temperature": "hot"})"), "temperature");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "temperature": 7})"), "temperature");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "top_p": 0})"), "top_p");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "top_k": 2.5})"), "top_k");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "min_p": -0.1})"), "min_p");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "presence_penalty": 3})"), "presence_penalty");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "max_tokens": 0})"), "max_tokens");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "max_tokens": -5})"), "max_tokens");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "max_tokens": 1e30})"), "max_tokens");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "max_tokens": "10"})"), "max_tokens");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "max_completion_tokens": 99999999999})"), "max_completion_tokens");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "stop": 5})"), "stop");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "stop": [""]})"), "stop");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "stream": "yes"})"), "stream");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "stream_options": 1})"), "stream_options");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "n": 3})"), "n");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "seed": "abc"})"), "seed");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "logprobs": 1})"), "logprobs");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "top_logprobs": 3})"), "top_logprobs");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "logprobs": true, "top_logprobs": 50})"), "top_logprobs");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "logit_bias": {"abc": 1}})"), "logit_bias");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "logit_bias": {"5": 1000}})"), "logit_bias");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "response_format": {"type": "json_schema"}})"), "response_format");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "tools": {"name": "f"}})"), "tools");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "tools": [{"type": "function"}]})"), "tools[0].function");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "tools": [{"type": "function", "function": {"name": ""}}]})"), "tools[0].function.name");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "tool_choice": "sometimes"})"), "tool_choice");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "tool_choice": "required"})"), "tool_choice");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "tools": [{"type": "function", "function": {"name": "f"}}],
                            "tool_choice": {"type": "function", "function": {"name": "g"}}})"),
            "tool_choice");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "chat_template_kwargs": [1]})"), "chat_template_kwargs");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "chat_template_kwargs": {"enable_thinking": "no"}})"), "chat_template_kwargs.enable_thinking");
  EXPECT_EQ(rejected_field("{" + kMsgs + R"(, "functions": [{"name": "f"}]})"), "functions");
}

TEST(ChatRequestValidation, ReadsValidRequests) {
  const auto r = parse_chat_completion_request(R"({
    "model": "glm", "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05, "seed": 7,
    "max_completion_tokens": 100, "stop": ["END", "###"], "presence_penalty": 0.5, "frequency_penalty": -0.5,
    "logprobs": true, "top_logprobs": 3, "stream": true, "stream_options": {"include_usage": true},
    "logit_bias": {"12": -100}, "response_format": {"type": "text"}, "n": 1, "user": "ignored",
    "chat_template_kwargs": {"enable_thinking": false},
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "messages": [
      {"role": "developer", "content": "Be brief."},
      {"role": "user", "content": [{"type": "text", "text": "Weather "}, {"type": "text", "text": "in Paris?"}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "sunny"}]})");
  EXPECT_EQ(r.model, "glm");
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.7f);
  EXPECT_EQ(r.options.sampling.top_k, 40);
  EXPECT_EQ(r.options.sampling.seed, 7u);
  EXPECT_TRUE(r.options.seed_given);
  EXPECT_EQ(r.options.max_tokens, 100);
  EXPECT_EQ(r.options.stop, (std::vector<std::string>{"END", "###"}));
  EXPECT_TRUE(r.options.logprobs);
  EXPECT_EQ(r.options.top_logprobs, 3);
  EXPECT_TRUE(r.options.stream && r.options.include_usage);
  ASSERT_EQ(r.options.logit_bias.size(), 1u);
  EXPECT_EQ(r.options.logit_bias[0].first, 12);
  EXPECT_TRUE(r.thinking_disabled);
  EXPECT_EQ(r.tool_choice, ToolChoice::Auto);
  const auto& m = r.chat.messages;
  EXPECT_EQ(m[0]["role"], "system");
  EXPECT_EQ(m[1]["content"], "Weather in Paris?");
  EXPECT_EQ(m[2]["content"], "");
  EXPECT_EQ(m[2]["tool_calls"][0]["function"]["arguments"]["city"], "Paris");
  EXPECT_EQ(m[3]["role"], "tool");
  EXPECT_TRUE(r.chat.add_generation_prompt);
  EXPECT_EQ(r.chat.extra["enable_thinking"], false);
}

TEST(ChatRequestValidation, ToolChoiceNoneHidesTools) {
  const auto r = parse_chat_completion_request("{" + kMsgs + R"(, "tool_choice": "none",
      "tools": [{"type": "function", "function": {"name": "f"}}]})");
  EXPECT_EQ(r.tool_choice, ToolChoice::None);
  EXPECT_TRUE(r.chat.tools.is_null());
  const auto named = parse_chat_completion_request("{" + kMsgs + R"(, "tool_choice": {"type": "function", "function": {"name": "f"}},
      "tools": [{"type": "function", "function": {"name": "f"}}]})");
  EXPECT_EQ(named.tool_choice, ToolChoice::Function);
  EXPECT_EQ(named.tool_choice_name, "f");
}

TEST(CompletionRequestValidation, PromptForms) {
  EXPECT_EQ(parse_completion_request(R"({"prompt": "def f():"})").prompt_text, "def f():");
  EXPECT_EQ(parse_completion_request(R"({"prompt": ["one"]})").prompt_text, "one");
  EXPECT_EQ(parse_completion_request(R"({"prompt": [1, 2, 3]})").prompt_tokens, (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_EQ(parse_completion_request(R"({"prompt": "x", "logprobs": 2})").options.top_logprobs, 2);
  auto rejected = [](const std::string& body) {
    try {
      parse_completion_request(body);
    } catch (const ApiError& e) {
      return e.param();
    }
    return std::string("<accepted>");
  };
  EXPECT_EQ(rejected(R"({})"), "prompt");
  EXPECT_EQ(rejected(R"({"prompt": ""})"), "prompt");
  EXPECT_EQ(rejected(R"({"prompt": ["a", "b"]})"), "prompt");
  EXPECT_EQ(rejected(R"({"prompt": [1, -2]})"), "prompt");
  EXPECT_EQ(rejected(R"({"prompt": 5})"), "prompt");
  EXPECT_EQ(rejected(R"({"prompt": "x", "echo": true})"), "echo");
  EXPECT_EQ(rejected(R"({"prompt": "x", "suffix": "y"})"), "suffix");
  EXPECT_EQ(rejected(R"({"prompt": "x", "logprobs": 99})"), "logprobs");
}

}  // namespace
}  // namespace glmq::serve
