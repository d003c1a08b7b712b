#include "serve/response_json.h"

#include "serve/json_text.h"

namespace glmq::serve {

std::string finish_reason_name(FinishReason reason, bool tool_calls) {
  switch (reason) {
    case FinishReason::Length:
      return "length";
    case FinishReason::Stop:
    case FinishReason::Cancelled:  // stopped by a stop string
      return tool_calls ? "tool_calls" : "stop";
    default:
      return "stop";
  }
}

json usage_json(std::int64_t prompt_tokens, std::int64_t completion_tokens) {
  return {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens}, {"total_tokens", prompt_tokens + completion_tokens}};
}

std::string tool_call_id(const ResponseHeader& header, int index) {
  // Unique per response and call; the response id already carries the randomness.
  const auto dash = header.id.find('-');
  return "call_" + header.id.substr(dash == std::string::npos ? 0 : dash + 1) + "_" + std::to_string(index);
}

namespace {
json token_entry(const Tokenizer& tokenizer, std::int32_t id, float logprob) {
  const std::string& bytes = tokenizer.token_bytes(static_cast<std::uint32_t>(id));
  json b = json::array();
  for (unsigned char c : bytes) b.push_back(c);
  return {{"token", bytes}, {"logprob", logprob}, {"bytes", b}};
}
}  // namespace

json chat_logprobs_json(const Tokenizer& tokenizer, const std::vector<GeneratedToken>& tokens) {
  json content = json::array();
  for (const auto& t : tokens) {
    if (t.is_stop) continue;
    json e = token_entry(tokenizer, t.id, t.logprob);
    json top = json::array();
    for (const auto& [id, lp] : t.top) top.push_back(token_entry(tokenizer, id, lp));
    e["top_logprobs"] = top;
    content.push_back(std::move(e));
  }
  return {{"content", content}};
}

json completion_logprobs_json(const Tokenizer& tokenizer, const std::vector<GeneratedToken>& tokens, std::size_t text_offset) {
  json toks = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
  for (const auto& t : tokens) {
    if (t.is_stop) continue;
    const std::string& bytes = tokenizer.token_bytes(static_cast<std::uint32_t>(t.id));
    toks.push_back(bytes);
    lps.push_back(t.logprob);
    json top = json::object();
    for (const auto& [id, lp] : t.top) top[tokenizer.token_bytes(static_cast<std::uint32_t>(id))] = lp;
    tops.push_back(t.top.empty() ? json(nullptr) : top);
    offsets.push_back(text_offset);
    text_offset += bytes.size();
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

json chat_message_json(const ChatOutput& output, const ResponseHeader& header) {
  json m = {{"role", "assistant"}};
  const bool calls = !output.tool_calls().empty();
  m["content"] = output.content().empty() && calls ? json(nullptr) : json(output.content());
  if (!output.reasoning().empty()) m["reasoning_content"] = output.reasoning();
  if (calls) {
    json list = json::array();
    for (std::size_t i = 0; i < output.tool_calls().size(); ++i) {
      const auto& c = output.tool_calls()[i];
      list.push_back({{"id", tool_call_id(header, static_cast<int>(i))},
                      {"type", "function"},
                      {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    }
    m["tool_calls"] = list;
  }
  return m;
}

json chat_completion_json(const ResponseHeader& header, const json& message, const std::string& finish_reason,
                          const json& logprobs, const json& usage) {
  return {{"id", header.id},
          {"object", "chat.completion"},
          {"created", header.created},
          {"model", header.model},
          {"choices", json::array({{{"index", 0}, {"message", message}, {"logprobs", logprobs}, {"finish_reason", finish_reason}}})},
          {"usage", usage}};
}

json chat_delta_json(const ChatDelta& delta, const ResponseHeader& header, bool first) {
  json d = json::object();
  if (first) d["role"] = "assistant";
  if (!delta.reasoning.empty()) d["reasoning_content"] = delta.reasoning;
  if (!delta.content.empty() || (first && delta.reasoning.empty() && delta.tool_calls.empty())) d["content"] = delta.content;
  if (!delta.tool_calls.empty()) {
    // Fragments of one call in one chunk merge into one entry, as clients accumulate by index.
    json calls = json::array();
    int last = -1;
    for (const auto& t : delta.tool_calls) {
      if (t.index != last) {
        json e = {{"index", t.index}};
        if (!t.name.empty()) {
          e["id"] = tool_call_id(header, t.index);
          e["type"] = "function";
          e["function"] = {{"name", t.name}, {"arguments", t.arguments}};
        } else {
          e["function"] = {{"arguments", t.arguments}};
        }
        calls.push_back(std::move(e));
        last = t.index;
      } else {
        auto& args = calls.back()["function"]["arguments"];
        args = args.get<std::string>() + t.arguments;
      }
    }
    d["tool_calls"] = calls;
  }
  return d;
}

json chat_chunk_json(const ResponseHeader& header, const json& delta, const json& finish_reason, const json& logprobs) {
  return {{"id", header.id},
          {"object", "chat.completion.chunk"},
          {"created", header.created},
          {"model", header.model},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"logprobs", logprobs}, {"finish_reason", finish_reason}}})}};
}

json usage_chunk_json(const ResponseHeader& header, const char* object, const json& usage) {
  return {{"id", header.id}, {"object", object}, {"created", header.created}, {"model", header.model}, {"choices", json::array()}, {"usage", usage}};
}

json text_completion_json(const ResponseHeader& header, const std::string& text, const json& finish_reason, const json& logprobs,
                          const json& usage, bool chunk) {
  json r = {{"id", header.id},
            {"object", "text_completion"},
            {"created", header.created},
            {"model", header.model},
            {"choices", json::array({{{"index", 0}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", finish_reason}}})}};
  if (!chunk) r["usage"] = usage;
  return r;
}

std::string sse_event(const json& payload) { return "data: " + json_text(payload) + "\n\n"; }
std::string sse_done() { return "data: [DONE]\n\n"; }

}  // namespace glmq::serve
