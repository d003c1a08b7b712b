// The output parsers: reasoning split (with and without a <think> the prompt opened), GLM XML tool calls to
// OpenAI JSON, stop strings — and that every way of cutting the text into pieces gives the same result.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "serve/reasoning_parser.h"
#include "serve/stop_strings.h"
#include "serve/tool_call_parser.h"

namespace glmq::serve {
namespace {

ReasoningSplit split_all(std::string_view text, bool pre_opened, std::size_t piece) {
  ReasoningParser p(pre_opened);
  ReasoningSplit out;
  for (std::size_t i = 0; i < text.size(); i += piece) {
    auto s = p.push(text.substr(i, piece));
    out.reasoning += s.reasoning;
    out.content += s.content;
  }
  auto s = p.finish();
  out.reasoning += s.reasoning;
  out.content += s.content;
  return out;
}

TEST(ReasoningParser, PromptOpenedThink) {
  EXPECT_TRUE(prompt_opens_reasoning("<|user|>hi<|assistant|><think>"));
  EXPECT_FALSE(prompt_opens_reasoning("<|user|>hi<|assistant|><think></think>"));
  EXPECT_FALSE(prompt_opens_reasoning("<|user|>hi<|assistant|>"));
  // An earlier closed think block in the history does not count.
  EXPECT_TRUE(prompt_opens_reasoning("<think>a</think>b<|user|>c<|assistant|><think>"));
}

TEST(ReasoningParser, SplitsAtEveryPieceSize) {
  struct Case {
    std::string text;
    bool pre_opened;
    std::string reasoning, content;
  };
  const Case cases[] = {
      {"Let me think.</think>\n\nThe answer is 4.", true, "Let me think.", "The answer is 4."},
      {"<think>plan</think>Done", false, "plan", "Done"},
      {"\n<think>plan</think>\nDone", false, "plan", "Done"},
      {"Plain answer, no tags.", false, "", "Plain answer, no tags."},
      // The template opened <think> and the answer never closed it: all of it is reasoning (cut off).
      {"still thinking", true, "still thinking", ""},
      // Thinking switched off in the prompt: an answer without tags is the answer.
      {"  The answer.", false, "", "The answer."},
      {"</think>Immediate answer", true, "", "Immediate answer"},
      {"a < b and </thin is not a tag</think>x<think>y", true, "a < b and </thin is not a tag", "x<think>y"},
      {"<thi", false, "", "<thi"},
  };
  for (const auto& c : cases) {
    for (std::size_t piece = 1; piece <= c.text.size() + 1; ++piece) {
      const auto s = split_all(c.text, c.pre_opened, piece);
      EXPECT_EQ(s.reasoning, c.reasoning) << c.text << " in pieces of " << piece;
      EXPECT_EQ(s.content, c.content) << c.text << " in pieces of " << piece;
    }
  }
}

struct ParsedCalls {
  std::string text;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments
};

ParsedCalls parse_all(std::string_view text, std::size_t piece, const ToolParameterTypes& types = {}) {
  ToolCallParser p(types);
  ParsedCalls out;
  auto take = [&](const ContentDelta& d) {
    out.text += d.text;
    for (const auto& t : d.tool_calls) {
      if (static_cast<std::size_t>(t.index) >= out.calls.size()) {
        EXPECT_FALSE(t.name.empty()) << "a call's first delta names it";
        out.calls.resize(static_cast<std::size_t>(t.index) + 1);
      }
      if (!t.name.empty()) out.calls[static_cast<std::size_t>(t.index)].first = t.name;
      out.calls[static_cast<std::size_t>(t.index)].second += t.arguments;
    }
  };
  for (std::size_t i = 0; i < text.size(); i += piece) take(p.push(text.substr(i, piece)));
  take(p.finish());
  return out;
}

TEST(ToolCallParser, GlmXmlToOpenAiJson) {
  const std::string text =
      "I will check.\n<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n"
      "<arg_key>days</arg_key><arg_value>3</arg_value><arg_key>units</arg_key><arg_value>{\"temp\": \"C\"}</arg_value>"
      "</tool_call>\n<tool_call>get_time<arg_key>zone</arg_key><arg_value>CET</arg_value></tool_call>\n";
  for (std::size_t piece = 1; piece <= text.size(); ++piece) {
    const auto r = parse_all(text, piece);
    EXPECT_EQ(r.text, "I will check.") << "pieces of " << piece;
    ASSERT_EQ(r.calls.size(), 2u) << "pieces of " << piece;
    EXPECT_EQ(r.calls[0].first, "get_weather");
    const auto args = nlohmann::json::parse(r.calls[0].second);
    EXPECT_EQ(args, nlohmann::json::parse(R"({"city": "Paris", "days": 3, "units": {"temp": "C"}})")) << r.calls[0].second;
    EXPECT_EQ(r.calls[1].first, "get_time");
    EXPECT_EQ(nlohmann::json::parse(r.calls[1].second), nlohmann::json::parse(R"({"zone": "CET"})"));
  }
}

TEST(ToolCallParser, SchemaStringKeepsNumbersAsText) {
  const auto types = tool_parameter_types(nlohmann::ordered_json::parse(
      R"([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object",
          "properties": {"zip": {"type": "string"}, "count": {"type": "integer"}}}}}])"));
  const auto r = parse_all("<tool_call>lookup<arg_key>zip</arg_key><arg_value>02139</arg_value>"
                           "<arg_key>count</arg_key><arg_value>5</arg_value><arg_key>other</arg_key><arg_value>true</arg_value></tool_call>",
                           7, types);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(r.calls[0].second), nlohmann::json::parse(R"({"zip": "02139", "count": 5, "other": true})"));
}

TEST(ToolCallParser, ValuesThatAreNotJsonStayStrings) {
  EXPECT_EQ(typed_argument_json("hello world", ""), "\"hello world\"");
  EXPECT_EQ(typed_argument_json(" 42 ", ""), "42");
  EXPECT_EQ(typed_argument_json("[1, 2]", ""), "[1,2]");
  EXPECT_EQ(typed_argument_json("{not json", ""), "\"{not json\"");
  EXPECT_EQ(typed_argument_json("", ""), "\"\"");
  EXPECT_EQ(typed_argument_json("line1\nline2 \"q\"", "string"), "\"line1\\nline2 \\\"q\\\"\"");
}

TEST(ToolCallParser, CallWithoutArgumentsAndTextOnly) {
  auto r = parse_all("<tool_call>list_files</tool_call>", 1);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(r.calls[0].first, "list_files");
  EXPECT_EQ(r.calls[0].second, "{}");
  r = parse_all("No tools needed: a < b, <tool is not a tag.\n", 3);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(r.text, "No tools needed: a < b, <tool is not a tag.");
}

TEST(ToolCallParser, CutOffCallsStillCloseTheirArguments) {
  // The token limit hit inside the second pair: the first pair is kept and the object closed.
  auto r = parse_all("<tool_call>search<arg_key>q</arg_key><arg_value>cats</arg_value><arg_key>lim", 4);
  ASSERT_EQ(r.calls.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(r.calls[0].second), nlohmann::json::parse(R"({"q": "cats"})"));
  // Cut off inside the name: nothing to call, the text stays text.
  r = parse_all("Sure. <tool_call>sea", 2);
  EXPECT_TRUE(r.calls.empty());
  EXPECT_EQ(r.text, "Sure. <tool_call>sea");
}

TEST(StopStringMatcher, HoldsBackPartialMatchesAndCutsAtTheFirst) {
  const std::string text = "alpha beta STOP gamma";
  for (std::size_t piece = 1; piece <= text.size(); ++piece) {
    StopStringMatcher m({"STOP", "gam"});
    std::string out;
    for (std::size_t i = 0; i < text.size() && !m.stopped(); i += piece) {
      const std::string got = m.push(std::string_view(text).substr(i, piece));
      EXPECT_EQ(got.find('S'), std::string::npos) << "part of a stop string was released, pieces of " << piece;
      out += got;
    }
    out += m.finish();
    EXPECT_TRUE(m.stopped());
    EXPECT_EQ(out, "alpha beta ");
  }
  StopStringMatcher none({"xyz"});
  std::string kept = none.push("abcx");
  EXPECT_EQ(kept, "abc");
  kept += none.push("y");
  kept += none.finish();
  EXPECT_EQ(kept, "abcxy");
  EXPECT_FALSE(none.stopped());
}

}  // namespace
}  // namespace glmq::serve
