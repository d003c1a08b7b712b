// The server in-process on glm-mini over loopback: concurrent requests give what they give alone, streaming
// gives what non-streaming gives, a client that leaves frees its slot, a full queue answers 503, and every bad
// input is a 4xx with an OpenAI error body while the server keeps serving.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "core/progress.h"
#include "runtime/loaded_model.h"
#include "serve/api_server.h"
#include "serve/json_prefix.h"
#include "tokenizer/tokenizer_config.h"

namespace glmq::serve {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::string kModelDir = std::string(GLMQ_SHARED_DIR) + "/models/glm-mini";

const LoadedModel& mini() {
  static const LoadedModel model = [] {
    set_quiet(true);
    return load_model_bundle(kModelDir);
  }();
  return model;
}

const ChatTemplate& glm5_template() {
  static const ChatTemplate t = [] {
    std::ifstream in(std::string(GLMQ_SHARED_DIR) + "/docs/glm5_chat_template.jinja");
    std::stringstream ss;
    ss << in.rdbuf();
    return ChatTemplate(ss.str(), TokenizerConfig::from_directory(kModelDir));
  }();
  return t;
}

// A server on an ephemeral port, serving from its own thread.
class TestServer {
 public:
  explicit TestServer(int parallel, int queue = 8, std::int64_t context = 512, const ChatTemplate* chat_template = nullptr)
      : backend_(1), server_(mini(), chat_template ? *chat_template : mini().require_chat_template(), backend_, options(parallel, queue, context)) {
    port_ = server_.bind();
    thread_ = std::thread([this] { server_.serve(); });
    for (int i = 0; i < 200; ++i) {
      if (auto r = client().Get("/health"); r && r->status == 200) return;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "server did not come up";
  }
  ~TestServer() {
    server_.stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(120, 0);
    return c;
  }
  // Status and parsed body of a POST.
  std::pair<int, json> post(const std::string& path, const std::string& body) const {
    auto r = client().Post(path.c_str(), body, "application/json");
    if (!r) return {-1, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  std::string metrics() const {
    auto r = client().Get("/metrics");
    return r ? r->body : "";
  }

 private:
  static ServerOptions options(int parallel, int queue, std::int64_t context) {
    ServerOptions o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.model_name = "glm-mini";
    o.scheduler.parallel = parallel;
    o.scheduler.max_queue = queue;
    o.scheduler.context = context;
    o.scheduler.prefill_budget = 64;  // small, so prompts of concurrent requests are split across steps
    return o;
  }
  CpuBackend backend_;
  ApiServer server_;
  int port_ = 0;
  std::thread thread_;
};

json chat_body(const std::string& user, int max_tokens, double temperature = 0.0, std::uint64_t seed = 0) {
  return {{"model", "glm-mini"},
          {"messages", json::array({{{"role", "user"}, {"content", user}}})},
          {"max_tokens", max_tokens},
          {"temperature", temperature},
          {"seed", seed}};
}

struct StreamResult {
  int status = -1;
  std::vector<json> chunks;
  bool done = false;
};

// Reads an SSE stream; `keep_going(chunks so far)` false aborts the connection.
StreamResult stream(const TestServer& server, const std::string& path, json body,
                    const std::function<bool(const std::vector<json>&)>& keep_going = nullptr) {
  body["stream"] = true;
  StreamResult out;
  std::string buffer;
  httplib::Request req;
  req.method = "POST";
  req.path = path;
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    buffer.append(data, n);
    for (std::size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
      const std::string payload = event.substr(6);
      if (payload == "[DONE]") out.done = true;
      else out.chunks.push_back(json::parse(payload));
    }
    return !keep_going || keep_going(out.chunks);
  };
  auto client = server.client();
  auto r = client.send(req);
  if (r) out.status = r->status;
  return out;
}

std::string streamed_content(const StreamResult& s, const char* field = "content") {
  std::string text;
  for (const auto& c : s.chunks)
    if (!c["choices"].empty() && c["choices"][0]["delta"].contains(field)) text += c["choices"][0]["delta"][field].get<std::string>();
  return text;
}

const char* kPrompts[] = {"Write a Python function that sorts a list.", "What does the os module do?",
                          "Explain list comprehensions.", "How do I open a file in Python?"};

TEST(ServerIntegration, ConcurrentRequestsEqualOneAtATime) {
  TestServer server(4);
  std::vector<json> bodies;
  for (const char* p : kPrompts) bodies.push_back(chat_body(p, 20));
  bodies.push_back(chat_body(kPrompts[0], 20, 0.9, 1234));  // sampled, seeded: the same draw either way
  std::vector<json> alone;
  for (const auto& b : bodies) {
    auto [status, j] = server.post("/v1/chat/completions", b.dump());
    ASSERT_EQ(status, 200) << j;
    alone.push_back(j);
  }
  std::vector<json> together(bodies.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < bodies.size(); ++i)
    threads.emplace_back([&, i] { together[i] = server.post("/v1/chat/completions", bodies[i].dump()).second; });
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_EQ(together[i]["choices"][0]["message"], alone[i]["choices"][0]["message"]) << "request " << i;
    EXPECT_EQ(together[i]["choices"][0]["finish_reason"], alone[i]["choices"][0]["finish_reason"]);
    EXPECT_EQ(together[i]["usage"], alone[i]["usage"]);
  }
  EXPECT_NE(alone[0]["choices"][0]["message"]["content"], alone[1]["choices"][0]["message"]["content"]);
  EXPECT_NE(server.metrics().find("glmq_generated_tokens_total"), std::string::npos);
}

TEST(ServerIntegration, StreamingEqualsNonStreaming) {
  TestServer server(2);
  json body = chat_body(kPrompts[1], 24);
  body["logprobs"] = true;
  body["top_logprobs"] = 2;
  auto [status, whole] = server.post("/v1/chat/completions", body.dump());
  ASSERT_EQ(status, 200) << whole;
  body["stream_options"] = {{"include_usage", true}};
  const StreamResult s = stream(server, "/v1/chat/completions", body);
  ASSERT_EQ(s.status, 200);
  ASSERT_TRUE(s.done);
  ASSERT_GE(s.chunks.size(), 3u);
  EXPECT_EQ(s.chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(streamed_content(s), whole["choices"][0]["message"]["content"]);
  const json& last = s.chunks[s.chunks.size() - 2];
  EXPECT_EQ(last["choices"][0]["finish_reason"], whole["choices"][0]["finish_reason"]);
  EXPECT_EQ(s.chunks.back()["usage"], whole["usage"]);
  EXPECT_TRUE(s.chunks.back()["choices"].empty());
  // Logprobs: one entry per shown token, streamed or not.
  std::size_t streamed_logprobs = 0;
  for (const auto& c : s.chunks)
    if (!c["choices"].empty() && c["choices"][0]["logprobs"].is_object()) streamed_logprobs += c["choices"][0]["logprobs"]["content"].size();
  const auto& lp = whole["choices"][0]["logprobs"]["content"];
  EXPECT_EQ(streamed_logprobs, lp.size());
  ASSERT_FALSE(lp.empty());
  EXPECT_EQ(lp[0]["top_logprobs"].size(), 2u);
  EXPECT_EQ(lp[0]["top_logprobs"][0]["token"], lp[0]["token"]);  // greedy: the chosen token is the best one
}

TEST(ServerIntegration, CompletionsAndStopStrings) {
  TestServer server(2);
  const json body = {{"prompt", "def add(a, b):\n"}, {"max_tokens", 16}, {"temperature", 0}, {"logprobs", 1}};
  auto [status, whole] = server.post("/v1/completions", body.dump());
  ASSERT_EQ(status, 200) << whole;
  const std::string text = whole["choices"][0]["text"];
  ASSERT_GE(text.size(), 6u);
  EXPECT_EQ(whole["choices"][0]["logprobs"]["tokens"].size(), whole["usage"]["completion_tokens"].get<std::size_t>());
  const StreamResult s = stream(server, "/v1/completions", body);
  std::string streamed;
  for (const auto& c : s.chunks) streamed += c["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(streamed, text);
  // A stop string from the middle of that answer ends the text right before it.
  const std::string stop = text.substr(3, 3);
  json stopped = body;
  stopped["stop"] = stop;
  auto [st, cut] = server.post("/v1/completions", stopped.dump());
  ASSERT_EQ(st, 200);
  EXPECT_EQ(cut["choices"][0]["text"], text.substr(0, text.find(stop)));
  EXPECT_EQ(cut["choices"][0]["finish_reason"], "stop");
  const StreamResult ss = stream(server, "/v1/completions", stopped);
  std::string streamed_cut;
  for (const auto& c : ss.chunks) streamed_cut += c["choices"][0]["text"].get<std::string>();
  EXPECT_EQ(streamed_cut, cut["choices"][0]["text"]);
}

TEST(ServerIntegration, DisconnectMidStreamFreesTheSlot) {
  TestServer server(1, 0);
  json body = chat_body(kPrompts[2], 400);
  body["ignore_eos"] = true;
  const StreamResult s = stream(server, "/v1/chat/completions", body, [](const std::vector<json>& chunks) { return chunks.size() < 4; });
  EXPECT_FALSE(s.done);
  // The one slot comes back: a new request is served (not 503) within a few steps.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = server.post("/v1/chat/completions", chat_body("hi", 2).dump()).first;
    if (status != 503) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200);
  EXPECT_NE(server.metrics().find("glmq_requests_active 0"), std::string::npos) << server.metrics();
}

TEST(ServerIntegration, NonStreamingClientThatLeavesFreesTheSlot) {
  TestServer server(1, 0);
  json body = chat_body(kPrompts[2], 400);
  body["ignore_eos"] = true;
  {
    auto c = server.client();
    c.set_read_timeout(0, 300000);  // gives up after 0.3 s and closes the connection
    EXPECT_FALSE(c.Post("/v1/chat/completions", body.dump(), "application/json"));
  }
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    status = server.post("/v1/chat/completions", chat_body("hi", 2).dump()).first;
    if (status != 503) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(status, 200);
}

TEST(ServerIntegration, FullQueueAnswers503) {
  TestServer server(1, 1);
  std::atomic<bool> release{false};
  json body = chat_body(kPrompts[0], 300);
  body["ignore_eos"] = true;
  std::vector<std::thread> holders;
  for (int i = 0; i < 2; ++i)
    holders.emplace_back([&] { stream(server, "/v1/chat/completions", body, [&](const std::vector<json>&) { return !release.load(); }); });
  // Wait until one request holds the slot and the other waits in the queue.
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  auto holding = [&] {
    const std::string m = server.metrics();
    return m.find("glmq_requests_active 1") != std::string::npos && m.find("glmq_requests_queued 1") != std::string::npos;
  };
  while (std::chrono::steady_clock::now() < deadline && !holding()) std::this_thread::sleep_for(20ms);
  EXPECT_TRUE(holding()) << server.metrics();
  auto r = server.client().Post("/v1/chat/completions", chat_body("hi", 2).dump(), "application/json");
  // The holders are let go before any check can end the test.
  release = true;
  for (auto& t : holders) t.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  const json err = json::parse(r->body);
  EXPECT_EQ(err["error"]["type"], "server_error");
  EXPECT_EQ(err["error"]["code"], "server_overloaded");
  EXPECT_EQ(server.post("/v1/chat/completions", chat_body("hi", 2).dump()).first, 200);
}

TEST(ServerIntegration, JsonModeAnswersAJsonObject) {
  TestServer server(2);
  for (const char* prompt : {"Describe the os module as JSON.", "Give me a JSON object with a name and an age."}) {
    json body = chat_body(prompt, 64);
    body["response_format"] = {{"type", "json_object"}};
    auto [status, r] = server.post("/v1/chat/completions", body.dump());
    ASSERT_EQ(status, 200) << r;
    const std::string content = r["choices"][0]["message"]["content"];
    if (r["choices"][0]["finish_reason"] == "stop") {
      EXPECT_TRUE(json::parse(content).is_object()) << content;
    } else {
      JsonPrefix prefix;  // cut off by the token limit: still the start of an object
      for (char c : content) ASSERT_TRUE(prefix.push(static_cast<unsigned char>(c))) << content;
    }
    EXPECT_EQ(content.front(), '{') << content;
    EXPECT_EQ(streamed_content(stream(server, "/v1/chat/completions", body)), content);
  }
}

TEST(ServerIntegration, BadInputIsA4xxWithAnErrorBody) {
  TestServer server(1, 2, 128);
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "The quick brown fox jumps over the lazy dog " + std::to_string(i) + ". ";
  struct Case {
    std::string path, body;
    int status;
    std::string param;
  };
  const Case cases[] = {
      {"/v1/chat/completions", "{\"messages\": [", 400, ""},
      {"/v1/chat/completions", "", 400, ""},
      {"/v1/chat/completions", "\"just a string\"", 400, ""},
      {"/v1/chat/completions", R"({"messages": []})", 400, "messages"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": 1}]})", 400, "messages[0].content"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1000000})", 400, "max_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": -1})", 400, "max_tokens"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "temperature": [1]})", 400, "temperature"},
      {"/v1/chat/completions", R"({"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"99999": 5}})", 400, "logit_bias"},
      {"/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", long_prompt}}}}}.dump(), 400, "messages"},
      {"/v1/completions", R"({"prompt": [1, 2, 99999]})", 400, "prompt"},
      {"/v1/completions", R"({"prompt": 3})", 400, "prompt"},
      {"/tokenize", R"({"nothing": 1})", 400, "content"},
      {"/detokenize", R"({"tokens": [1, -4]})", 400, "tokens"},
      {"/v1/nowhere", "{}", 404, ""},
  };
  for (const auto& c : cases) {
    auto [status, j] = server.post(c.path, c.body);
    EXPECT_EQ(status, c.status) << c.path << " " << c.body.substr(0, 80);
    ASSERT_TRUE(j.is_object() && j.contains("error")) << c.body.substr(0, 80) << " → " << j;
    EXPECT_TRUE(j["error"]["message"].is_string());
    if (!c.param.empty()) {
      EXPECT_EQ(j["error"]["param"], c.param) << c.body.substr(0, 80);
    }
  }
  auto [status, j] = server.post("/v1/chat/completions", json{{"messages", {{{"role", "user"}, {"content", long_prompt}}}}}.dump());
  EXPECT_EQ(j["error"]["code"], "context_length_exceeded");
  // Still serving.
  EXPECT_EQ(server.post("/v1/chat/completions", chat_body("hi", 2).dump()).first, 200);
}

TEST(ServerIntegration, ModelsHealthTokenizeMetrics) {
  TestServer server(1);
  auto c = server.client();
  auto models = json::parse(c.Get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["id"], "glm-mini");
  EXPECT_EQ(json::parse(c.Get("/health")->body)["status"], "ok");
  auto [st, tok] = server.post("/tokenize", R"({"content": "def f(x): return x"})");
  ASSERT_EQ(st, 200) << tok;
  EXPECT_EQ(tok["count"], tok["tokens"].size());
  auto [st2, detok] = server.post("/detokenize", json{{"tokens", tok["tokens"]}}.dump());
  ASSERT_EQ(st2, 200);
  EXPECT_EQ(detok["content"], "def f(x): return x");
  auto [st3, chat] = server.post("/tokenize", R"({"messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(st3, 200);
  auto [st4, shown] = server.post("/detokenize", json{{"tokens", chat["tokens"]}}.dump());
  EXPECT_EQ(shown["content"], "[gMASK]<sop><|user|>hi<|assistant|>");
  const std::string m = server.metrics();
  for (const char* name : {"glmq_requests_total", "glmq_generation_tokens_per_second", "glmq_requests_queued", "glmq_slots_total 1"})
    EXPECT_NE(m.find(name), std::string::npos) << name;
}

TEST(ServerIntegration, Glm5TemplateReasoningAndToolCalls) {
  TestServer server(1, 4, 1024, &glm5_template());
  // The template opens <think>: glm-mini never closes it, so the whole answer is reasoning.
  auto [st, thinking] = server.post("/v1/chat/completions", chat_body(kPrompts[0], 12).dump());
  ASSERT_EQ(st, 200) << thinking;
  const auto& msg = thinking["choices"][0]["message"];
  EXPECT_FALSE(msg["reasoning_content"].get<std::string>().empty()) << msg;
  EXPECT_EQ(msg["content"], "");
  // enable_thinking=false closes it in the prompt: the same kind of answer is content.
  json off = chat_body(kPrompts[0], 12);
  off["chat_template_kwargs"] = {{"enable_thinking", false}};
  auto [st2, answer] = server.post("/v1/chat/completions", off.dump());
  ASSERT_EQ(st2, 200);
  EXPECT_FALSE(answer["choices"][0]["message"].contains("reasoning_content"));
  EXPECT_FALSE(answer["choices"][0]["message"]["content"].get<std::string>().empty());
  // Streamed reasoning equals the non-streamed one.
  EXPECT_EQ(streamed_content(stream(server, "/v1/chat/completions", chat_body(kPrompts[0], 12)), "reasoning_content"),
            msg["reasoning_content"]);

  // A forced tool call, and the round trip of its result through the template.
  json call = chat_body("Weather in Paris?", 10);
  call["tools"] = json::parse(R"([{"type": "function", "function": {"name": "get_weather",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  call["tool_choice"] = {{"type", "function"}, {"function", {{"name", "get_weather"}}}};
  auto [st3, called] = server.post("/v1/chat/completions", call.dump());
  ASSERT_EQ(st3, 200) << called;
  const auto& calls = called["choices"][0]["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 1u) << called;
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_EQ(calls[0]["function"]["name"].get<std::string>().rfind("get_weather", 0), 0u);
  EXPECT_TRUE(json::parse(calls[0]["function"]["arguments"].get<std::string>()).is_object());
  json back = call;
  back.erase("tool_choice");
  back["messages"].push_back({{"role", "assistant"}, {"content", nullptr},
                              {"tool_calls", {{{"id", "c0"}, {"type", "function"},
                                               {"function", {{"name", "get_weather"}, {"arguments", "{\"city\": \"Paris\"}"}}}}}}});
  back["messages"].push_back({{"role", "tool"}, {"tool_call_id", "c0"}, {"content", "sunny"}});
  auto [st4, rendered] = server.post("/tokenize", back.dump());
  ASSERT_EQ(st4, 200) << rendered;
  auto [st5, text] = server.post("/detokenize", json{{"tokens", rendered["tokens"]}}.dump());
  const std::string prompt = text["content"];
  EXPECT_NE(prompt.find("<tool_call>get_weather<arg_key>city</arg_key><arg_value>Paris</arg_value></tool_call>"), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("<|observation|><tool_response>sunny</tool_response>"), std::string::npos) << prompt;
  EXPECT_EQ(server.post("/v1/chat/completions", back.dump()).first, 200);
}

}  // namespace
}  // namespace glmq::serve
