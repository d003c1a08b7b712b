// glmq run: a one-shot answer. With --prompt the text goes through the chat template and the answer streams
// as text; with --tokens ids go in and ids come out. Ends with prompt/decode tokens/s and peak memory.
#include <sys/resource.h>

#include <cstdio>

#include "apps/glmq/commands.h"
#include "apps/glmq/backend_option.h"
#include "core/error.h"
#include "runtime/loaded_model.h"
#include "runtime/sampler.h"
#include "runtime/session.h"
#include "tokenizer/stream_decoder.h"
#include "apps/glmq/cli_common.h"

namespace glmq::cli {

namespace {
struct RunOptions {
  std::string model, tokens, prompt, system, think;
  bool raw = false;
  std::int64_t max_tokens = 256;
  std::int64_t context = 4096;
  BackendOptions compute;
  bool ignore_eos = false;
  SamplingParams sampling;
  KvCacheOptions kv{.kv_bits = 16};
};

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports kilobytes
}

std::vector<std::int32_t> prompt_ids(const RunOptions& o, const LoadedModel& m) {
  if (!o.tokens.empty()) return parse_token_list(o.tokens, "--tokens");
  const Tokenizer& tok = m.require_tokenizer();
  std::string text = o.prompt;
  if (!o.raw) {
    ChatRequest req;
    if (!o.system.empty()) req.messages.push_back({{"role", "system"}, {"content", o.system}});
    req.messages.push_back({{"role", "user"}, {"content", o.prompt}});
    req.add_generation_prompt = true;
    if (!o.think.empty()) {
      if (o.think != "on" && o.think != "off") fail(ErrorKind::InvalidArgument, "--think must be 'on' or 'off', found '" + o.think + "'");
      req.extra["enable_thinking"] = o.think == "on";
    }
    text = m.require_chat_template().render(req);
  }
  // The template already holds the special prefix tokens, as apply_chat_template(tokenize=True) assumes.
  auto ids = tok.encode(text, o.raw);
  return {ids.begin(), ids.end()};
}

void run_generate(const RunOptions& o) {
  if (o.tokens.empty() == o.prompt.empty()) fail(ErrorKind::InvalidArgument, "give exactly one of --prompt or --tokens");
  if (o.max_tokens < 0) fail(ErrorKind::InvalidArgument, "--max-tokens must be non-negative");
  validate(o.sampling);
  LoadedModel m = load_model_bundle(o.model);
  const GlmConfig& c = m.weights().config;
  const std::vector<std::int32_t> prompt = prompt_ids(o, m);
  if (prompt.empty()) fail(ErrorKind::InvalidArgument, "the prompt encodes to no tokens");
  for (auto id : prompt)
    if (id >= c.vocab_size)
      fail(ErrorKind::InvalidArgument, "--tokens: id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(c.vocab_size));
  const std::int64_t context = std::min<std::int64_t>(o.context, c.max_position_embeddings);
  if (static_cast<std::int64_t>(prompt.size()) >= context)
    fail(ErrorKind::Capacity, "prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context of " +
                                  std::to_string(context) + " (raise --ctx)");

  const std::unique_ptr<Backend> compute_backend = make_backend(o.compute);
  Backend& backend = *compute_backend;
  Session session(m.weights(), backend, context, o.kv);
  Sampler sampler(o.sampling);
  const bool text_out = o.tokens.empty();
  std::optional<StreamDecoder> stream;
  if (text_out) stream.emplace(m.require_tokenizer(), true);
  std::vector<std::int32_t> generated;
  std::span<const float> logits = session.prefill(prompt);
  for (std::int64_t i = 0; i < o.max_tokens && session.position() < context; ++i) {
    const std::int32_t next = sampler.sample(logits, generated);
    generated.push_back(next);
    if (text_out) {
      std::fputs(stream->push(static_cast<std::uint32_t>(next)).c_str(), stdout);
      std::fflush(stdout);
    } else {
      std::printf("%s%d", i ? "," : "", next);
    }
    if (!o.ignore_eos && m.is_stop(next)) break;
    if (i + 1 < o.max_tokens) logits = session.decode(next);
  }
  if (text_out) std::fputs(stream->finish().c_str(), stdout);
  std::printf("\n");
  std::fflush(stdout);
  const auto& s = session.stats();
  std::fprintf(stderr, "prompt: %lld tokens, %.1f tokens/s | decode: %lld tokens, %.1f tokens/s | peak memory %.1f MB | %s\n",
               static_cast<long long>(s.prompt_tokens), s.prompt_tokens_per_second(), static_cast<long long>(s.decoded_tokens),
               s.decode_tokens_per_second(), peak_rss_mb(), describe_backend(backend).c_str());
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Answer one prompt (streamed text) or continue token ids");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("--model", o->model, "Model directory or .gguf file (first shard of a split one)")->required();
  cmd->add_option("--prompt", o->prompt, "User message (goes through the chat template unless --raw)");
  cmd->add_option("--system", o->system, "System message");
  cmd->add_flag("--raw", o->raw, "Send --prompt as plain text, without the chat template");
  cmd->add_option("--think", o->think, "on/off: the template's enable_thinking");
  cmd->add_option("--tokens", o->tokens, "Prompt as comma-separated token ids (prints ids)");
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate (default 256)");
  add_sampling_options(cmd, o->sampling);
  cmd->add_option("--ctx", o->context, "Context length (default 4096, capped at the model's maximum)");
  add_backend_options(cmd, o->compute);
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after an end-of-sequence token");
  add_kv_cache_options(cmd, o->kv);
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace glmq::cli
