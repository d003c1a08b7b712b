#include "serve/serve_context.h"

#include <chrono>
#include <random>

#include "serve/client_connection.h"
#include "serve/json_text.h"

namespace glmq::serve {

namespace {
std::uint64_t random_u64() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}
}  // namespace

GenerationInput generation_input(const ServeContext& ctx, const GenerationOptions& o, std::vector<std::int32_t> prompt) {
  const auto vocab = ctx.model.weights().config.vocab_size;
  const auto n = static_cast<std::int64_t>(prompt.size());
  if (n == 0) invalid_request("prompt", "the prompt encodes to no tokens");
  if (n >= ctx.context)
    throw ApiError(400, "invalid_request_error",
                   "this server's context is " + std::to_string(ctx.context) + " tokens, but the prompt has " + std::to_string(n) +
                       " tokens (at least one more is needed for the answer)",
                   "messages", "context_length_exceeded");
  if (o.max_tokens && *o.max_tokens > ctx.context)
    invalid_request("max_tokens", "must not exceed the context of " + std::to_string(ctx.context) + " tokens, found " + std::to_string(*o.max_tokens));
  for (auto id : prompt)
    if (id < 0 || id >= vocab) invalid_request("prompt", "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab));
  for (const auto& [id, bias] : o.logit_bias)
    if (id >= vocab) invalid_request("logit_bias", "token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(vocab));
  GenerationInput in;
  in.prompt = std::move(prompt);
  in.sampling = o.sampling;
  if (!o.seed_given) in.sampling.seed = random_u64();
  in.max_tokens = o.max_tokens.value_or(ctx.context);
  in.logit_bias = o.logit_bias;
  in.ignore_eos = o.ignore_eos;
  if (o.json_object) in.json_object = std::make_shared<JsonObjectConstraint>(ctx.token_bytes, ctx.model.stop_ids);
  in.logprobs = o.logprobs;
  in.top_logprobs = o.top_logprobs;
  return in;
}

ResponseHeader new_response_header(const ServeContext& ctx, const char* id_prefix) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(random_u64()));
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return {std::string(id_prefix) + "-" + hex, std::chrono::duration_cast<std::chrono::seconds>(now).count(), ctx.model_name};
}

void send_json(httplib::Response& res, const nlohmann::json& body, int status) {
  res.status = status;
  res.set_content(json_text(body), "application/json");
}

void send_error(httplib::Response& res, const ApiError& error) {
  res.status = error.status();
  if (error.status() == 503) res.set_header("Retry-After", "1");
  res.set_content(error.body(), "application/json");
}

std::optional<GenerationJob::Update> next_update(GenerationJob& job, const ClientConnection& client) {
  using namespace std::chrono_literals;
  for (;;) {
    GenerationJob::Update u = job.take(50ms);
    if (!u.tokens.empty() || u.finish != FinishReason::Running) return u;
    if (client.disconnected()) {
      job.cancel();
      return std::nullopt;
    }
  }
}

}  // namespace glmq::serve
