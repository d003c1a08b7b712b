#include "serve/completion_endpoint.h"

#include <memory>

#include "serve/client_connection.h"
#include "serve/completion_response.h"
#include "serve/text_output.h"

namespace glmq::serve {

namespace {

class TextCompletion {
 public:
  TextCompletion(const ServeContext& ctx, const httplib::Request& req, std::shared_ptr<GenerationJob> job,
                 const GenerationOptions& options, std::int64_t prompt_tokens)
      : ctx_(ctx),
        client_(req),
        job_(std::move(job)),
        output_(ctx.model.require_tokenizer(), options.stop),
        options_(options),
        header_(new_response_header(ctx, "cmpl")),
        prompt_tokens_(prompt_tokens) {}

  GenerationJob& job() { return *job_; }

  void respond(httplib::Response& res) {
    std::string text;
    std::vector<GeneratedToken> all;
    while (!finished_) {
      auto u = next_update(*job_, client_);
      if (!u) {
        res.status = 499;  // the client closed the request; nobody reads this, the metrics count it
        return;
      }
      text += consume(*u, all);
    }
    if (finish_ == FinishReason::Error) {
      send_error(res, ApiError(500, "server_error", "generation failed: " + error_));
      return;
    }
    send_json(res, text_completion_json(header_, text, finish_reason_name(finish_, false), logprobs(all),
                                        usage_json(prompt_tokens_, completion_tokens_), false));
  }

  bool pump(httplib::DataSink& sink) {
    auto u = next_update(*job_, client_);
    if (!u) return false;
    std::vector<GeneratedToken> tokens;
    const std::string text = consume(*u, tokens);
    if ((!text.empty() || (options_.logprobs && !tokens.empty())) &&
        !write(sink, sse_event(text_completion_json(header_, text, nullptr, logprobs(tokens), nullptr, true))))
      return false;
    if (!finished_) return true;
    if (finish_ == FinishReason::Error) {
      if (!write(sink, "data: " + ApiError(500, "server_error", "generation failed: " + error_).body() + "\n\n")) return false;
    } else {
      if (!write(sink, sse_event(text_completion_json(header_, "", finish_reason_name(finish_, false), nullptr, nullptr, true))))
        return false;
      if (options_.include_usage &&
          !write(sink, sse_event(usage_chunk_json(header_, "text_completion", usage_json(prompt_tokens_, completion_tokens_)))))
        return false;
    }
    if (!write(sink, sse_done())) return false;
    sink.done();
    return true;
  }

 private:
  json logprobs(const std::vector<GeneratedToken>& tokens) {
    if (!options_.logprobs) return nullptr;
    json j = completion_logprobs_json(ctx_.model.require_tokenizer(), tokens, text_offset_);
    for (const auto& t : tokens)
      if (!t.is_stop) text_offset_ += ctx_.model.require_tokenizer().token_bytes(static_cast<std::uint32_t>(t.id)).size();
    return j;
  }

  std::string consume(const GenerationJob::Update& u, std::vector<GeneratedToken>& shown) {
    std::string text;
    for (const auto& t : u.tokens) {
      if (finished_) break;
      ++completion_tokens_;
      shown.push_back(t);
      text += output_.push(t);
      if (output_.stopped()) {
        job_->cancel();
        finished_ = true;
        finish_ = FinishReason::Stop;
      }
    }
    if (!finished_ && u.finish != FinishReason::Running) {
      finished_ = true;
      finish_ = u.finish;
      error_ = u.error;
      text += output_.finish();
    }
    return text;
  }

  bool write(httplib::DataSink& sink, const std::string& event) {
    if (sink.write(event.data(), event.size())) return true;
    job_->cancel();
    return false;
  }

  const ServeContext& ctx_;
  ClientConnection client_;
  std::shared_ptr<GenerationJob> job_;
  TextOutput output_;
  GenerationOptions options_;
  ResponseHeader header_;
  std::int64_t prompt_tokens_ = 0, completion_tokens_ = 0;
  std::size_t text_offset_ = 0;
  bool finished_ = false;
  FinishReason finish_ = FinishReason::Running;
  std::string error_;
};

}  // namespace

void handle_completions(const ServeContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const CompletionRequest request = parse_completion_request(req.body);
  std::vector<std::int32_t> prompt = request.prompt_tokens;
  if (request.prompt_text) {
    // Like HF tokenizers' encode(): the tokenizer's own special prefix, if it has one.
    const auto ids = ctx.model.require_tokenizer().encode(*request.prompt_text, true);
    prompt.assign(ids.begin(), ids.end());
  }
  const auto prompt_tokens = static_cast<std::int64_t>(prompt.size());
  GenerationInput input = generation_input(ctx, request.options, std::move(prompt));
  auto completion = std::make_shared<TextCompletion>(ctx, req, ctx.scheduler.submit(std::move(input)), request.options, prompt_tokens);
  send_completion(std::move(completion), request.options.stream, res);
}

}  // namespace glmq::serve
