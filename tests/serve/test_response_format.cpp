// Response formatting: SSE framing, stream deltas (role first, tool calls announced with id and name, then
// argument fragments), finish reasons, usage and error bodies in OpenAI's shapes.
#include <gtest/gtest.h>

#include "serve/api_error.h"
#include "serve/response_json.h"

namespace glmq::serve {
namespace {

const ResponseHeader kHeader{"chatcmpl-00ff", 1700000000, "glm-mini"};

TEST(ResponseFormat, ServerSentEvents) {
  EXPECT_EQ(sse_event(json{{"a", 1}}), "data: {\"a\":1}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
  // Bytes that are not UTF-8 (a token cut mid character) become U+FFFD instead of failing the response.
  EXPECT_EQ(sse_event(json{{"t", std::string("a\xff")}}), "data: {\"t\":\"a\xef\xbf\xbd\"}\n\n");
}

TEST(ResponseFormat, FirstDeltaCarriesTheRole) {
  EXPECT_EQ(chat_delta_json({}, kHeader, true), json::parse(R"({"role": "assistant", "content": ""})"));
  ChatDelta d;
  d.reasoning = "hmm";
  EXPECT_EQ(chat_delta_json(d, kHeader, false), json::parse(R"({"reasoning_content": "hmm"})"));
}

TEST(ResponseFormat, ToolCallDeltas) {
  ChatDelta d;
  d.tool_calls = {{0, "get_weather", ""}, {0, "", "{\"city\": \"Paris\""}, {0, "", "}"}, {1, "now", ""}};
  const json j = chat_delta_json(d, kHeader, false);
  ASSERT_EQ(j["tool_calls"].size(), 2u);
  EXPECT_EQ(j["tool_calls"][0], json::parse(R"({"index": 0, "id": "call_00ff_0", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}})"));
  EXPECT_EQ(j["tool_calls"][1]["function"]["name"], "now");
  ChatDelta more;
  more.tool_calls = {{1, "", "{}"}};
  EXPECT_EQ(chat_delta_json(more, kHeader, false)["tool_calls"][0], json::parse(R"({"index": 1, "function": {"arguments": "{}"}})"));
}

TEST(ResponseFormat, ChunksAndCompletions) {
  const json chunk = chat_chunk_json(kHeader, json::object(), "stop", nullptr);
  EXPECT_EQ(chunk["object"], "chat.completion.chunk");
  EXPECT_EQ(chunk["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(chunk["choices"][0]["delta"].empty());
  const json usage = usage_chunk_json(kHeader, "chat.completion.chunk", usage_json(10, 5));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"], json::parse(R"({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})"));
  const json full = chat_completion_json(kHeader, {{"role", "assistant"}, {"content", "hi"}}, "length", nullptr, usage_json(1, 2));
  EXPECT_EQ(full["object"], "chat.completion");
  EXPECT_EQ(full["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(full["choices"][0]["finish_reason"], "length");
  const json text = text_completion_json(kHeader, "abc", "stop", nullptr, usage_json(1, 1), false);
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], "abc");
  EXPECT_TRUE(text.contains("usage"));
}

TEST(ResponseFormat, FinishReasons) {
  EXPECT_EQ(finish_reason_name(FinishReason::Stop, false), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::Stop, true), "tool_calls");
  EXPECT_EQ(finish_reason_name(FinishReason::Length, true), "length");
}

TEST(ResponseFormat, ErrorBody) {
  const ApiError e(503, "server_error", "busy", "", "server_overloaded");
  EXPECT_EQ(json::parse(e.body()),
            json::parse(R"({"error": {"message": "busy", "type": "server_error", "param": null, "code": "server_overloaded"}})"));
}

}  // namespace
}  // namespace glmq::serve
