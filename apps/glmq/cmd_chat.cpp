// glmq chat: an interactive conversation in the terminal. The conversation goes through the chat template
// each turn; the cache keeps every token of the previous turns, so a turn only runs the tokens that differ
// from what is cached (usually just the new message).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "apps/glmq/chat_template_option.h"
#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "apps/glmq/backend_option.h"
#include "core/error.h"
#include "runtime/loaded_model.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "serve/reasoning_parser.h"
#include "tokenizer/stream_decoder.h"

namespace glmq::cli {

namespace {

struct ChatOptions {
  std::string model, system, think, chat_template_file;
  std::int64_t max_tokens = 1024, context = 4096;
  BackendOptions compute;
  SamplingParams sampling;
  KvCacheOptions kv{.kv_bits = 16};
};

// Reasoning is shown dimmed on a terminal so the answer stands out.
class AnswerPrinter {
 public:
  explicit AnswerPrinter(bool tty) : tty_(tty) {}
  void print(const serve::ReasoningSplit& s) {
    if (!s.reasoning.empty()) {
      if (tty_ && !dim_) std::fputs("\x1b[2m", stdout);
      dim_ = true;
      std::fputs(s.reasoning.c_str(), stdout);
    }
    if (!s.content.empty()) {
      if (dim_) std::fputs(tty_ ? "\x1b[0m\n" : "\n", stdout);
      dim_ = false;
      std::fputs(s.content.c_str(), stdout);
    }
    std::fflush(stdout);
  }
  void end() {
    if (dim_ && tty_) std::fputs("\x1b[0m", stdout);
    dim_ = false;
    std::fputs("\n", stdout);
    std::fflush(stdout);
  }

 private:
  bool tty_, dim_ = false;
};

class ChatLoop {
 public:
  ChatLoop(const ChatOptions& o, LoadedModel& m)
      : o_(o),
        m_(m),
        tokenizer_(m.require_tokenizer()),
        template_(load_chat_template(o.model, o.chat_template_file)),
        backend_(make_backend(o.compute)),
        context_(std::min<std::int64_t>(o.context, m.weights().config.max_position_embeddings)),
        session_(m.weights(), *backend_, context_, o.kv),
        sampler_(o.sampling) {
    reset();
  }

  void run() {
    const bool tty = isatty(STDOUT_FILENO) != 0;
    std::fprintf(stderr, "glmq chat: %s, %lld tokens of context, %s. /reset starts over, /exit (or Ctrl-D) leaves.\n", o_.model.c_str(),
                 static_cast<long long>(context_), describe_backend(*backend_).c_str());
    std::string line;
    for (;;) {
      std::fputs("> ", stdout);
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (line == "/exit" || line == "/quit") break;
      if (line == "/reset") {
        reset();
        std::puts("(conversation cleared)");
        continue;
      }
      if (line.empty()) continue;
      turn(line, tty);
    }
    std::fputs("\n", stdout);
  }

 private:
  void reset() {
    messages_ = OrderedJson::array();
    if (!o_.system.empty()) messages_.push_back({{"role", "system"}, {"content", o_.system}});
  }

  std::vector<std::int32_t> render_prompt(bool& reasoning) {
    ChatRequest req;
    req.messages = messages_;
    req.add_generation_prompt = true;
    if (!o_.think.empty()) req.extra["enable_thinking"] = o_.think == "on";
    std::string text = template_.render(req);
    reasoning = serve::prompt_opens_reasoning(text);
    if (reasoning && o_.think == "off") {  // the template opened <think> regardless: close it
      text += "</think>";
      reasoning = false;
    }
    const auto ids = tokenizer_.encode(text, false);
    return {ids.begin(), ids.end()};
  }

  void turn(const std::string& user_text, bool tty) {
    messages_.push_back({{"role", "user"}, {"content", user_text}});
    bool reasoning = false;
    const std::vector<std::int32_t> prompt = render_prompt(reasoning);
    if (static_cast<std::int64_t>(prompt.size()) >= context_) {
      std::printf("(the conversation needs %zu tokens, more than the context of %lld: /reset, or raise --ctx)\n", prompt.size(),
                  static_cast<long long>(context_));
      messages_.erase(messages_.size() - 1);
      return;
    }
    // Reuse the cached tokens the new prompt starts with; at least one token must run to get logits.
    std::size_t reuse = 0;
    while (reuse < cached_.size() && reuse < prompt.size() && cached_[reuse] == prompt[reuse]) ++reuse;
    if (reuse == prompt.size()) --reuse;
    session_.truncate(static_cast<std::int64_t>(reuse));
    cached_.assign(prompt.begin(), prompt.end());
    const auto t0 = std::chrono::steady_clock::now();
    std::span<const float> logits = session_.prefill(std::span(prompt).subspan(reuse));
    const auto t1 = std::chrono::steady_clock::now();

    StreamDecoder decoder(tokenizer_, false);
    serve::ReasoningParser parser(reasoning);
    AnswerPrinter printer(tty);
    std::string answer, thoughts;
    std::vector<std::int32_t> generated;
    auto show = [&](const serve::ReasoningSplit& s) {
      thoughts += s.reasoning;
      answer += s.content;
      printer.print(s);
    };
    for (std::int64_t i = 0; i < o_.max_tokens; ++i) {
      const std::int32_t next = sampler_.sample(logits, generated);
      generated.push_back(next);
      if (m_.is_stop(next)) break;
      show(parser.push(decoder.push(static_cast<std::uint32_t>(next))));
      if (session_.position() >= context_) break;
      logits = session_.decode(next);
      cached_.push_back(next);
    }
    show(parser.push(decoder.finish()));
    show(parser.finish());
    printer.end();
    const auto t2 = std::chrono::steady_clock::now();
    OrderedJson reply = {{"role", "assistant"}, {"content", answer}};
    if (!thoughts.empty()) reply["reasoning_content"] = thoughts;
    messages_.push_back(reply);
    const double prefill_s = std::chrono::duration<double>(t1 - t0).count(), decode_s = std::chrono::duration<double>(t2 - t1).count();
    std::fprintf(stderr, "[prompt %zu tokens (%zu cached) %.1f tok/s | answer %zu tokens %.1f tok/s]\n", prompt.size(), reuse,
                 prefill_s > 0 ? static_cast<double>(prompt.size() - reuse) / prefill_s : 0.0, generated.size(),
                 decode_s > 0 ? static_cast<double>(generated.size()) / decode_s : 0.0);
  }

  const ChatOptions& o_;
  LoadedModel& m_;
  const Tokenizer& tokenizer_;
  ChatTemplate template_;
  std::unique_ptr<Backend> backend_;
  std::int64_t context_;
  Session session_;
  Sampler sampler_;
  OrderedJson messages_;
  std::vector<std::int32_t> cached_;  // the tokens in the session's cache
};

void run_chat(const ChatOptions& o) {
  if (!o.think.empty() && o.think != "on" && o.think != "off")
    fail(ErrorKind::InvalidArgument, "--think must be 'on' or 'off', found '" + o.think + "'");
  if (o.max_tokens < 1) fail(ErrorKind::InvalidArgument, "--max-tokens must be at least 1");
  validate(o.sampling);
  o.kv.validate();
  LoadedModel m = load_model_bundle(o.model);
  ChatLoop(o, m).run();
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("chat", "Interactive chat in the terminal (keeps the conversation and its cache)");
  auto o = std::make_shared<ChatOptions>();
  cmd->add_option("--model", o->model, "Model directory or .gguf file (first shard of a split one)")->required();
  cmd->add_option("--system", o->system, "System message");
  cmd->add_option("--think", o->think, "on/off: the template's enable_thinking (off also closes a pre-opened <think>)");
  cmd->add_option("--chat-template-file", o->chat_template_file, "Jinja chat template to use instead of the model's");
  cmd->add_option("--max-tokens", o->max_tokens, "Most tokens per answer (default 1024)");
  add_sampling_options(cmd, o->sampling);
  cmd->add_option("--ctx", o->context, "Context length (default 4096, capped at the model's maximum)");
  add_backend_options(cmd, o->compute);
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_chat(*o); });
}

}  // namespace glmq::cli
