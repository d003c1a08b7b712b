#include "serve/utility_endpoints.h"

#include "core/error.h"
#include "serve/json_text.h"

namespace glmq::serve {

void handle_models(const ServeContext& ctx, httplib::Response& res) {
  const auto created = new_response_header(ctx, "model").created;
  send_json(res, {{"object", "list"},
                  {"data", json::array({{{"id", ctx.model_name},
                                         {"object", "model"},
                                         {"created", created},
                                         {"owned_by", "glmq"},
                                         {"max_model_len", ctx.context}}})}});
}

void handle_health(httplib::Response& res) { send_json(res, {{"status", "ok"}}); }

void handle_tokenize(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto body = parse_json_object(req.body);
  const Tokenizer& tokenizer = ctx.model.require_tokenizer();
  bool add_special = true;
  if (auto it = body.find("add_special"); it != body.end()) {
    if (!it->is_boolean()) invalid_request("add_special", "expected true or false");
    add_special = it->get<bool>();
  }
  std::string text;
  if (body.contains("messages")) {
    // The same checks and rendering as a chat request, without generating.
    ChatCompletionRequest chat = parse_chat_completion_request(req.body);
    try {
      text = ctx.chat_template.render(chat.chat);
    } catch (const Error& e) {
      invalid_request("messages", std::string("the chat template refused the conversation: ") + e.what());
    }
    add_special = false;
  } else {
    const char* key = body.contains("prompt") ? "prompt" : "content";
    auto it = body.find(key);
    if (it == body.end() || !it->is_string()) invalid_request(key, "a string \"content\" (or \"prompt\", or \"messages\") is required");
    text = it->get<std::string>();
  }
  const auto ids = tokenizer.encode(text, add_special);
  const bool with_pieces = body.value("with_pieces", false);
  json tokens = json::array();
  for (auto id : ids) {
    if (with_pieces) tokens.push_back({{"id", id}, {"piece", tokenizer.token_bytes(id)}});
    else tokens.push_back(id);
  }
  send_json(res, {{"tokens", tokens}, {"count", ids.size()}, {"max_model_len", ctx.context}});
}

void handle_detokenize(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const auto body = parse_json_object(req.body);
  const Tokenizer& tokenizer = ctx.model.require_tokenizer();
  auto it = body.find("tokens");
  if (it == body.end() || !it->is_array()) invalid_request("tokens", "an array of token ids is required");
  std::vector<std::uint32_t> ids;
  for (const auto& v : *it) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || !tokenizer.is_valid_id(static_cast<std::uint32_t>(v.get<std::int64_t>())))
      invalid_request("tokens", "not a token id of this model: " + json_text(v));
    ids.push_back(static_cast<std::uint32_t>(v.get<std::int64_t>()));
  }
  const std::string text = tokenizer.decode(ids, false);
  send_json(res, {{"content", text}, {"prompt", text}});
}

void handle_metrics(const ServeContext& ctx, httplib::Response& res) {
  res.status = 200;
  res.set_content(ctx.metrics.prometheus_text(), "text/plain; version=0.0.4");
}

}  // namespace glmq::serve
