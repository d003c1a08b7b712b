// glmq run: greedy generation from token ids, with prompt/decode speed.
#include <cstdio>

#include "apps/glmq/cli_common.h"
#include "apps/glmq/commands.h"
#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "runtime/session.h"

namespace glmq::cli {

namespace {
struct RunOptions {
  std::string model, tokens;
  std::int64_t max_tokens = 32;
  std::int64_t context = 4096;
  int threads = 0;
  bool ignore_eos = false;
};

void run_generate(const RunOptions& o) {
  auto prompt = parse_token_list(o.tokens, "--tokens");
  auto model = load_model(o.model);
  const GlmConfig& c = model->weights.config;
  for (auto id : prompt)
    if (id >= c.vocab_size)
      fail(ErrorKind::InvalidArgument, "--tokens: id " + std::to_string(id) + " outside the vocabulary of " + std::to_string(c.vocab_size));
  if (o.max_tokens < 0) fail(ErrorKind::InvalidArgument, "--max-tokens must be non-negative");
  const std::int64_t context = std::min<std::int64_t>(o.context, c.max_position_embeddings);
  if (static_cast<std::int64_t>(prompt.size()) >= context)
    fail(ErrorKind::Capacity, "prompt of " + std::to_string(prompt.size()) + " tokens does not fit the context of " +
                                  std::to_string(context));
  CpuBackend backend(o.threads);
  Session session(model->weights, backend, context);
  auto out = session.generate_greedy(prompt, o.max_tokens, !o.ignore_eos);
  for (std::size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? "," : "", out[i]);
  std::printf("\n");
  const auto& s = session.stats();
  std::fprintf(stderr, "prompt: %lld tokens, %.1f tokens/s | decode: %lld tokens, %.1f tokens/s | %d threads\n",
               static_cast<long long>(s.prompt_tokens), s.prompt_tokens_per_second(),
               static_cast<long long>(s.decoded_tokens), s.decode_tokens_per_second(), backend.threads());
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Greedy-generate token ids from a prompt of token ids");
  auto o = std::make_shared<RunOptions>();
  cmd->add_option("--model", o->model, "Model directory (HF layout)")->required();
  cmd->add_option("--tokens", o->tokens, "Prompt as comma-separated token ids")->required();
  cmd->add_option("--max-tokens", o->max_tokens, "Tokens to generate (default 32)");
  cmd->add_option("--ctx", o->context, "Context length (default 4096, capped at the model's maximum)");
  cmd->add_option("--threads", o->threads, "CPU threads (default: all cores)");
  cmd->add_flag("--ignore-eos", o->ignore_eos, "Keep generating after an end-of-sequence token");
  cmd->callback([o] { run_generate(*o); });
}

}  // namespace glmq::cli
