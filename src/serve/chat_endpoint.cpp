#include "serve/chat_endpoint.h"

#include <memory>

#include "serve/chat_output.h"
#include "serve/chat_prompt.h"
#include "serve/client_connection.h"
#include "serve/completion_response.h"

namespace glmq::serve {

namespace {

void append(ChatDelta& into, ChatDelta&& d) {
  into.reasoning += d.reasoning;
  into.content += d.content;
  into.tool_calls.insert(into.tool_calls.end(), d.tool_calls.begin(), d.tool_calls.end());
}

// One chat completion in flight: feeds the job's tokens through the output parsers and formats the result,
// either as one body or chunk by chunk.
class ChatCompletion {
 public:
  ChatCompletion(const ServeContext& ctx, const httplib::Request& req, std::shared_ptr<GenerationJob> job, ChatOutput output,
                 const GenerationOptions& options, std::int64_t prompt_tokens)
      : ctx_(ctx),
        client_(req),
        job_(std::move(job)),
        output_(std::move(output)),
        options_(options),
        header_(new_response_header(ctx, "chatcmpl")),
        prompt_tokens_(prompt_tokens) {}

  GenerationJob& job() { return *job_; }

  // Non-streaming: the whole response, or nothing when the client left.
  void respond(httplib::Response& res) {
    std::vector<GeneratedToken> all;
    ChatDelta ignored;
    while (!finished_) {
      auto u = next_update(*job_, client_);
      if (!u) {
        res.status = 499;  // the client closed the request; nobody reads this, the metrics count it
        return;
      }
      consume(*u, ignored, all);
    }
    if (finish_ == FinishReason::Error) {
      send_error(res, ApiError(500, "server_error", "generation failed: " + error_));
      return;
    }
    const bool calls = !output_.tool_calls().empty();
    const auto logprobs = options_.logprobs ? chat_logprobs_json(ctx_.model.require_tokenizer(), all) : json(nullptr);
    send_json(res, chat_completion_json(header_, chat_message_json(output_, header_), finish_reason_name(finish_, calls), logprobs,
                                        usage_json(prompt_tokens_, completion_tokens_)));
  }

  // Streaming: called by the HTTP library until it returns false or the stream is done.
  bool pump(httplib::DataSink& sink) {
    if (!started_) {
      started_ = true;
      if (!write(sink, chat_chunk_json(header_, chat_delta_json({}, header_, true), nullptr, nullptr))) return false;
    }
    auto u = next_update(*job_, client_);
    if (!u) return false;
    ChatDelta delta;
    std::vector<GeneratedToken> tokens;
    consume(*u, delta, tokens);
    const bool has_logprobs = options_.logprobs && !tokens.empty();
    if (!delta.empty() || has_logprobs) {
      const auto logprobs = has_logprobs ? chat_logprobs_json(ctx_.model.require_tokenizer(), tokens) : json(nullptr);
      if (!write(sink, chat_chunk_json(header_, chat_delta_json(delta, header_, false), nullptr, logprobs))) return false;
    }
    if (!finished_) return true;
    if (finish_ == FinishReason::Error) {
      if (!write(sink, ApiError(500, "server_error", "generation failed: " + error_).body(), true)) return false;
    } else {
      const bool calls = !output_.tool_calls().empty();
      if (!write(sink, chat_chunk_json(header_, json::object(), finish_reason_name(finish_, calls), nullptr))) return false;
      if (options_.include_usage &&
          !write(sink, usage_chunk_json(header_, "chat.completion.chunk", usage_json(prompt_tokens_, completion_tokens_))))
        return false;
    }
    if (!sink.write(sse_done().data(), sse_done().size())) return false;
    sink.done();
    return true;
  }

 private:
  // Runs new tokens through the parsers; a stop string ends the generation early.
  void consume(const GenerationJob::Update& u, ChatDelta& delta, std::vector<GeneratedToken>& shown) {
    for (const auto& t : u.tokens) {
      if (finished_) break;
      ++completion_tokens_;
      shown.push_back(t);
      append(delta, output_.push(t));
      if (output_.stopped_by_string()) {
        job_->cancel();
        finished_ = true;
        finish_ = FinishReason::Stop;
      }
    }
    if (!finished_ && u.finish != FinishReason::Running) {
      finished_ = true;
      finish_ = u.finish;
      error_ = u.error;
    }
    if (finished_ && !flushed_) {
      flushed_ = true;
      append(delta, output_.finish());
    }
  }

  bool write(httplib::DataSink& sink, const json& chunk) { return write(sink, sse_event(chunk), false); }
  bool write(httplib::DataSink& sink, const std::string& text, bool is_error_body) {
    const std::string event = is_error_body ? "data: " + text + "\n\n" : text;
    if (sink.write(event.data(), event.size())) return true;
    job_->cancel();
    return false;
  }

  const ServeContext& ctx_;
  ClientConnection client_;
  std::shared_ptr<GenerationJob> job_;
  ChatOutput output_;
  GenerationOptions options_;
  ResponseHeader header_;
  std::int64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  bool started_ = false, finished_ = false, flushed_ = false;
  FinishReason finish_ = FinishReason::Running;
  std::string error_;
};

}  // namespace

void handle_chat_completions(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ChatCompletionRequest request = parse_chat_completion_request(req.body);
  PreparedChat prepared = prepare_chat(request, ctx.chat_template, ctx.model.require_tokenizer());
  const auto prompt_tokens = static_cast<std::int64_t>(prepared.tokens.size());
  GenerationInput input = generation_input(ctx, request.options, std::move(prepared.tokens));
  input.first_token_choices = std::move(prepared.first_token_choices);
  auto completion = std::make_shared<ChatCompletion>(ctx, req, ctx.scheduler.submit(std::move(input)),
                                                     ChatOutput(ctx.model.require_tokenizer(), std::move(prepared.output)),
                                                     request.options, prompt_tokens);
  send_completion(std::move(completion), request.options.stream, res);
}

}  // namespace glmq::serve
